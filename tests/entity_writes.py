"""The integration's state writes, counted the way the recorder and the logbook see them.

Shared by the suite (tests/test_entities.py) and the benchmark
(``entity_writes_per_hour_online``): ``WriteCounter`` counts every
``state_changed`` event of an entry's entities (each is a row in the recorder's
``states`` table, attribute-only changes too) and the ones Home Assistant's
logbook would show (the rule of ``homeassistant.components.logbook``);
``online_hour`` runs one simulated hour at the defaults with a mapped entity
changing every 10 s.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, Self

from homeassistant.components.logbook.helpers import _is_state_filtered
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .conftest import POWER, settle

HOUR = 3600.0
STEP = 10.0  # seconds between two changes of the mapped entity


class WriteCounter:
    """Counts the state writes of one config entry's entities while it runs."""

    def __init__(self, hass: HomeAssistant, entry_id: str) -> None:
        """Start counting the writes of ``entry_id``'s entities."""
        self._registry = er.async_get(hass)
        self._entry_id = entry_id
        self.writes: Counter[str] = Counter()
        self.times: defaultdict[str, list[datetime]] = defaultdict(list)
        self.logbook: list[tuple[str, str]] = []  # (entity_id, new state)
        self._unsub = hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_event)

    def _ours(self, entity_id: str) -> bool:
        entry = self._registry.async_get(entity_id)
        return entry is not None and entry.config_entry_id == self._entry_id

    @callback
    def _on_event(self, event: Event[EventStateChangedData]) -> None:
        entity_id = event.data["entity_id"]
        if not self._ours(entity_id):
            return
        self.writes[entity_id] += 1
        self.times[entity_id].append(event.time_fired)
        new, old = event.data["new_state"], event.data["old_state"]
        if new is not None and old is not None and not _is_state_filtered(new, old):
            self.logbook.append((entity_id, new.state))

    @property
    def total(self) -> int:
        """Return every write counted so far."""
        return self.writes.total()

    def shortest_gap(self) -> timedelta | None:
        """Return the shortest time between two writes of one entity (clock time)."""
        gaps = [
            later - earlier
            for times in self.times.values()
            for earlier, later in pairwise(times)
        ]
        return min(gaps, default=None)

    def stop(self) -> None:
        """Stop counting."""
        self._unsub()

    def __enter__(self) -> Self:
        """Count inside a ``with`` block."""
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop counting at the end of the block."""
        self.stop()


async def online_hour(
    hass: HomeAssistant, freezer: Any, *, duration: float = HOUR, step: float = STEP
) -> None:
    """Run ``duration`` simulated seconds; the battery power changes every ``step``.

    The power takes a new value at every step (a real inverter's reading), so
    that every minimum gap ends with a change to submit.
    """
    for index in range(round(duration / step)):
        hass.states.async_set(
            POWER,
            str(1000 + index % 50),
            {"unit_of_measurement": "W", "device_class": "power"},
        )
        await settle(hass)
        freezer.tick(timedelta(seconds=step))
        async_fire_time_changed(hass)
        await settle(hass)
