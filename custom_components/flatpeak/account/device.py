"""One Flatpeak device of an account entry: the subentry the engine works for.

The engine (scheduler, sender, outbox, status) runs once per device subentry.
``DeviceContext`` is everything it needs to know about where it runs: the
account entry, the subentry (its options, its title), the key of its storage
and repair issues, a logger that names the device, and who to tell when
Flatpeak refuses the account's credentials.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Mapping, MutableMapping
import logging
from typing import TYPE_CHECKING, Any, cast, override

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from ..const import LOGGER

if TYPE_CHECKING:
    import asyncio

    from ..delivery.errors import Verdict
    from .runtime import FlatpeakConfigEntry


class DeviceLogger(logging.LoggerAdapter[logging.Logger]):
    """Prefixes every line with the device's name: ``[Garage battery] ...``."""

    def __init__(self, logger: logging.Logger, name: str) -> None:
        """Log to ``logger`` on behalf of the device called ``name``."""
        super().__init__(logger)
        self.device_name = name

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        """Put the device's name in front of the message."""
        return f"[{self.device_name}] {msg}", kwargs


class _ReadLogger(logging.LoggerAdapter[logging.Logger]):
    """The integration's logger, with a coordinator's failure lines at info.

    Home Assistant's coordinator logs a failed update (once, until it
    recovers) at error level. A read failing is not a delivery failing:
    delivery says an outage once, as a warning; the reads (``coordinator.py``)
    say theirs at info (the "log when unavailable" rule), and their entities
    go unavailable.
    """

    @override
    def error(self, msg: object, *args: object, **kwargs: Any) -> None:
        self.info(msg, *args, **kwargs)


READ_LOGGER = cast("logging.Logger", _ReadLogger(LOGGER))


class DeviceContext:
    """Where one device's engine runs: its account entry and its subentry.

    Everything per device (storage files, repair issues, the last submission)
    is keyed by ``storage_id``, the subentry's ID. A subentry migrated from a
    0.1/0.2 entry kept that entry's ID, so its files and issues carried over.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry: FlatpeakConfigEntry,
        subentry: ConfigSubentry,
        *,
        on_credentials_refused: Callable[[Verdict], None],
        on_credentials_work: Callable[[], None],
    ) -> None:
        """Run for ``subentry`` of ``entry``; report what the credentials do upwards."""
        self.hass = hass
        self.entry = entry
        # Home Assistant updates a subentry in place: this one stays current.
        self.subentry = subentry
        self.device_id: str = subentry.data[CONF_DEVICE_ID]
        self.log = DeviceLogger(LOGGER, subentry.title)
        self._on_credentials_refused = on_credentials_refused
        self._on_credentials_work = on_credentials_work

    @property
    def subentry_id(self) -> str:
        """Return the subentry's ID."""
        return self.subentry.subentry_id

    @property
    def storage_id(self) -> str:
        """Return the key of the device's files and repair issues."""
        return self.subentry.subentry_id

    @property
    def title(self) -> str:
        """Return the device's name, as the user sees it."""
        return self.subentry.title

    @property
    def options(self) -> Mapping[str, Any]:
        """Return the device's mapping and submission settings."""
        return self.subentry.data

    @callback
    def async_update_options(self, options: Mapping[str, Any]) -> None:
        """Store new options (the account entry's update listener reloads it)."""
        self.hass.config_entries.async_update_subentry(
            self.entry, self.subentry, data=options
        )

    @callback
    def async_on_unload(self, func: CALLBACK_TYPE) -> None:
        """Run ``func`` when the account entry unloads."""
        self.entry.async_on_unload(func)

    @callback
    def async_create_background_task(
        self, target: Coroutine[Any, Any, None], name: str
    ) -> asyncio.Task[None]:
        """Run ``target`` until it ends or the account entry unloads."""
        return self.entry.async_create_background_task(
            self.hass, target, f"{name} {self.device_id}"
        )

    @callback
    def credentials_refused(self, verdict: Verdict) -> None:
        """Flatpeak refused the account's credentials: the account decides."""
        self._on_credentials_refused(verdict)

    @callback
    def credentials_work(self) -> None:
        """A check of the device got a token: the account decides what it resumes."""
        self._on_credentials_work()
