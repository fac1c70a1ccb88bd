"""The last accepted submission, kept across restarts (a small ``Store`` per device)."""

from __future__ import annotations

from collections.abc import Callable
import logging
from typing import TYPE_CHECKING, Any, TypedDict

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from ..api import DeviceStateRecord
from ..const import DOMAIN, LOGGER

if TYPE_CHECKING:
    from .status import FlatpeakStatus

STORAGE_VERSION = 1
SAVE_DELAY = 10.0  # seconds


class _StoredLast(TypedDict):
    last_success: str | None
    last_record: dict[str, Any] | None
    last_body: dict[str, Any] | None


def _store(hass: HomeAssistant, storage_id: str) -> Store[_StoredLast]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{storage_id}.last")


async def async_remove_status(hass: HomeAssistant, storage_id: str) -> None:
    """Delete the saved last submission of a removed device."""
    await _store(hass, storage_id).async_remove()


class LastSubmissionStore:
    """Saves the status's ``last_success``, ``last_record`` and ``last_body``."""

    def __init__(
        self,
        hass: HomeAssistant,
        storage_id: str,
        *,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = LOGGER,
    ) -> None:
        """Keep the last submission of the device ``storage_id`` (its subentry)."""
        self._store = _store(hass, storage_id)
        self._log = log

    async def async_load(self) -> dict[str, Any]:
        """Return the saved fields as status changes ({} when none is readable)."""
        if not isinstance(stored := await self._store.async_load(), dict):
            return {}
        try:
            last_success = stored.get("last_success")
            record = stored.get("last_record")
            return {
                "last_success": dt_util.parse_datetime(last_success)
                if isinstance(last_success, str)
                else None,
                "last_record": _record_from_json(record)
                if isinstance(record, dict)
                else None,
                "last_body": stored.get("last_body"),
            }
        except (KeyError, TypeError, ValueError):
            self._log.warning("Discarding an unreadable saved last submission")
            return {}

    @callback
    def save_later(self, status: Callable[[], FlatpeakStatus]) -> None:
        """Save the newest status within ``SAVE_DELAY``."""
        self._store.async_delay_save(lambda: _to_json(status()), SAVE_DELAY)

    async def async_save(self, status: FlatpeakStatus) -> None:
        """Save ``status`` now (unload, shutdown)."""
        await self._store.async_save(_to_json(status))


def _to_json(status: FlatpeakStatus) -> _StoredLast:
    record = status.last_record
    return {
        "last_success": (
            status.last_success.isoformat() if status.last_success else None
        ),
        "last_record": _record_to_json(record) if record is not None else None,
        "last_body": status.last_body,
    }


def _record_to_json(record: DeviceStateRecord) -> dict[str, Any]:
    return {
        "id": record.id,
        "device_id": record.device_id,
        "account_id": record.account_id,
        "time_created": record.time_created.isoformat(),
    }


def _record_from_json(data: dict[str, Any]) -> DeviceStateRecord:
    if (created := dt_util.parse_datetime(str(data["time_created"]))) is None:
        raise ValueError("time_created")
    return DeviceStateRecord(
        id=data["id"],
        device_id=data["device_id"],
        account_id=data["account_id"],
        time_created=created,
    )
