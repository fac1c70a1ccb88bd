"""What a loaded account entry holds: one client (one token) and its devices."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback

from ..api import FlatpeakClient
from ..const import LOGGER, ErrorCode
from ..delivery.recheck import CREDENTIALS_PLAN, Recheck, async_abort_reauth
from ..delivery.sender import SenderState

if TYPE_CHECKING:
    from ..delivery.errors import Verdict
    from ..reads.readback import AccountReads
    from .runtime import FlatpeakConfigEntry, FlatpeakRuntimeData


@dataclass(slots=True, kw_only=True)
class FlatpeakAccount:
    """The account entry at run time: the shared client, a runtime per device, the reads.

    ``devices`` is keyed by subentry ID; ``subentry_ids`` are every device
    subentry the entry had when it was set up, disabled ones included (the
    files of one deleted meanwhile are to be deleted). Refused credentials concern the whole
    account: every device pauses, one re-authentication is asked for, and the
    credentials are tried again once an hour (a key revoked by mistake and
    restored) until they work or the user re-authenticates.
    """

    hass: HomeAssistant
    entry: FlatpeakConfigEntry
    client: FlatpeakClient
    devices: dict[str, FlatpeakRuntimeData] = field(default_factory=dict)
    subentry_ids: frozenset[str] = frozenset()
    # What the account reads from Flatpeak; None when its option is off.
    reads: AccountReads | None = None
    credentials_refused_verdict: Verdict | None = field(default=None, init=False)
    _recheck: Recheck | None = field(default=None, init=False)

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
        self._recheck = Recheck(
            self.hass,
            self.entry,
            CREDENTIALS_PLAN,
            self.client.authenticate,
            self.credentials_work,
            self._still_refused,
        )
        self._recheck.start()

    @callback
    def credentials_work(self) -> None:
        """Withdraw the request and resume every device paused for the credentials.

        A token was issued: by the account's hourly check, or by a device's
        own check (its lookup needs one too).
        """
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        if self.credentials_refused_verdict is not None:
            LOGGER.info("[%s] Flatpeak accepts the credentials again", self.entry.title)
            self.credentials_refused_verdict = None
        async_abort_reauth(self.hass, self.entry)
        for device in self.devices.values():
            if device.sender.paused_for is ErrorCode.AUTH_FAILED:
                device.sender.resume()

    @callback
    def _still_refused(self, err: Exception) -> None:
        LOGGER.debug(
            "[%s] Credentials still refused (%s)", self.entry.title, type(err).__name__
        )

    async def async_shutdown(self) -> None:
        """Stop checking, stop every device, keeping what is pending on disk."""
        if self._recheck is not None:
            self._recheck.cancel()
            self._recheck = None
        for device in self.devices.values():
            await device.async_shutdown()
