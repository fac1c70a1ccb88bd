"""What a loaded account entry holds: one client (one token) and its devices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback

from .api import FlatpeakClient
from .const import LOGGER
from .sender import SenderState

if TYPE_CHECKING:
    from .errors import Verdict
    from .runtime import FlatpeakRuntimeData


@dataclass(slots=True, kw_only=True)
class FlatpeakAccount:
    """The account entry at run time: the shared client, and a runtime per device.

    ``devices`` is keyed by subentry ID. Refused credentials concern the whole
    account: every device pauses and one re-authentication starts.
    """

    hass: HomeAssistant
    entry: ConfigEntry[FlatpeakAccount]
    client: FlatpeakClient
    devices: dict[str, FlatpeakRuntimeData] = field(default_factory=dict)
    credentials_refused_verdict: Verdict | None = None

    @callback
    def credentials_refused(self, verdict: Verdict) -> None:
        """Pause every device of the account and ask for new credentials once."""
        if self.credentials_refused_verdict is not None:
            return
        self.credentials_refused_verdict = verdict
        LOGGER.error(
            "[%s] Flatpeak refused the account's credentials: the submissions of "
            "its %s device(s) are paused until you re-authenticate",
            self.entry.title,
            len(self.devices),
        )
        for device in self.devices.values():
            # A device with a request in flight learns it from its own answer.
            if device.sender.state in (SenderState.IDLE, SenderState.WAITING):
                device.sender.pause(verdict)
        self.entry.async_start_reauth(self.hass)

    async def async_shutdown(self) -> None:
        """Stop every device, keeping what is pending on disk."""
        for device in self.devices.values():
            await device.async_shutdown()
