"""The persistent outbox: every snapshot waits here until Flatpeak has it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any, TypedDict

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .api import DeviceState
from .const import DOMAIN, LOGGER

STORAGE_VERSION = 1
SAVE_DELAY = 5.0  # seconds


def _store(hass: HomeAssistant, entry_id: str) -> Store[_StoredOutbox]:
    return Store(hass, STORAGE_VERSION, f"{DOMAIN}.{entry_id}.outbox")


async def async_remove_outbox(hass: HomeAssistant, entry_id: str) -> None:
    """Delete the saved outbox of a removed config entry."""
    await _store(hass, entry_id).async_remove()


class _StoredOutbox(TypedDict):
    records: list[dict[str, Any]]
    dropped: int
    rejected: int


class Outbox:
    """A bounded FIFO of device states, persisted with Home Assistant's ``Store``.

    Bounds: records older than ``max_age`` and records beyond ``max_records``
    are dropped, oldest first; drops are counted and logged once per episode.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        entry_id: str,
        *,
        max_age: timedelta,
        max_records: int,
    ) -> None:
        """Create an empty outbox; ``async_load`` restores the saved one."""
        self._store = _store(hass, entry_id)
        self._records: deque[DeviceState] = deque()
        self.max_age = max_age
        self.max_records = max_records
        self.dropped = 0
        self.rejected = 0
        self._drop_logged = False

    def __len__(self) -> int:
        """Return how many records wait for delivery."""
        return len(self._records)

    def __iter__(self) -> Iterator[DeviceState]:
        """Iterate over the waiting records, oldest first."""
        return iter(self._records)

    def __bool__(self) -> bool:
        """Return whether a record waits for delivery."""
        return bool(self._records)

    async def async_load(self) -> None:
        """Restore the records saved by a previous run."""
        if (stored := await self._store.async_load()) is None:
            return
        self.dropped = stored.get("dropped", 0)
        self.rejected = stored.get("rejected", 0)
        for data in stored.get("records", []):
            try:
                self._records.append(DeviceState.from_json(data))
            except (KeyError, TypeError, ValueError):
                LOGGER.warning("Discarding an unreadable record from the outbox")
        self.prune()

    def _data_to_save(self) -> _StoredOutbox:
        return {
            "records": [state.to_json() for state in self._records],
            "dropped": self.dropped,
            "rejected": self.rejected,
        }

    def _schedule_save(self) -> None:
        self._store.async_delay_save(self._data_to_save, SAVE_DELAY)

    async def async_save(self) -> None:
        """Write the outbox now (at unload and shutdown)."""
        await self._store.async_save(self._data_to_save())

    async def async_close(self) -> None:
        """Write the outbox now (at unload and shutdown)."""
        await self.async_save()

    def release(self) -> None:
        """Give back the record ``peek`` returned (it stays first in line)."""

    def append(self, state: DeviceState) -> None:
        """Queue a record, dropping the oldest beyond the bounds."""
        self._records.append(state)
        self.prune()
        self._schedule_save()

    def peek(self) -> DeviceState | None:
        """Return the oldest record, or None."""
        return self._records[0] if self._records else None

    def delivered(self, state: DeviceState) -> None:
        """Remove a record Flatpeak accepted."""
        self._remove(state)
        self._drop_logged = False

    def reject(self, state: DeviceState) -> None:
        """Remove a record Flatpeak refused for good; it is counted."""
        if self._remove(state):
            self.rejected += 1

    def _remove(self, state: DeviceState) -> bool:
        if self._records and self._records[0] is state:
            self._records.popleft()
        else:
            try:
                self._records.remove(state)
            except ValueError:
                return False
        self._schedule_save()
        return True

    def prune(self, now: datetime | None = None) -> int:
        """Drop records beyond the bounds, oldest first; return how many."""
        oldest = (now or dt_util.utcnow()) - self.max_age
        dropped = 0
        while self._records and (
            len(self._records) > self.max_records or self._records[0].time < oldest
        ):
            self._records.popleft()
            dropped += 1
        if dropped:
            self.dropped += dropped
            self._schedule_save()
            if not self._drop_logged:
                self._drop_logged = True
                LOGGER.warning(
                    "Outbox bound reached (%s records or %s old): dropped the "
                    "oldest records; further drops are counted, not logged",
                    self.max_records,
                    self.max_age,
                )
        return dropped
