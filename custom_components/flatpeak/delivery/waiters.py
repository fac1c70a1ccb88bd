"""The action's waiters: futures answered when their record is delivered or fails."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from homeassistant.core import HomeAssistant

from ..api import DeviceState, DeviceStateRecord


class Waiters:
    """Futures of the records the action and the button wait for, by reference."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start with no one waiting."""
        self._hass = hass
        self._futures: dict[str, list[asyncio.Future[DeviceStateRecord]]] = {}

    @contextmanager
    def wait_for(
        self, state: DeviceState
    ) -> Iterator[asyncio.Future[DeviceStateRecord]]:
        """Yield a future for ``state``'s record; forget it afterwards."""
        future: asyncio.Future[DeviceStateRecord] = self._hass.loop.create_future()
        reference = state.record_reference_id or ""
        self._futures.setdefault(reference, []).append(future)
        try:
            yield future
        finally:
            futures = self._futures.get(reference, [])
            if future in futures:
                futures.remove(future)
                if not futures:
                    del self._futures[reference]

    def waiting_for(self, state: DeviceState) -> bool:
        """Return whether someone waits for ``state``'s record."""
        return bool(self._futures.get(state.record_reference_id or ""))

    def resolve(
        self, state: DeviceState, outcome: DeviceStateRecord | Exception
    ) -> None:
        """Answer whoever waits for ``state``: its record, or why it failed."""
        for future in self._futures.pop(state.record_reference_id or "", []):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    def fail_all(self, err: Exception) -> None:
        """Answer everyone with ``err`` (their records stay queued)."""
        futures, self._futures = self._futures, {}
        for waiting in futures.values():
            for future in waiting:
                if not future.done():
                    future.set_exception(err)
