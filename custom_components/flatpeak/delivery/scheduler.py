"""The scheduler: when to take a snapshot of the mapped entities."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
import math
import time
from typing import Any

from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import (
    async_call_later,
    async_track_entity_registry_updated_event,
    async_track_state_change_event,
)
from homeassistant.helpers.start import async_at_started
from homeassistant.util import dt as dt_util

from ..account.device import DeviceContext
from ..account.issues import async_create_mapping_issue, async_delete_mapping_issue
from ..account.runtime import Settings
from ..api import DeviceState, DeviceStateRecord
from ..const import COALESCE_DELAY, SubmissionStatus
from ..mapping.battery_mapping import (
    BatteryMapping,
    build_device_state,
    with_reference_id,
)
from ..mapping.readings import SnapshotError, mapping_problems
from .sender import Sender


class Scheduler:
    """Listens to the mapped entities and the clock; hands snapshots to the sender.

    A change waits ``COALESCE_DELAY`` (one inverter update touches several
    entities) and the minimum gap since the last snapshot; the heartbeat
    submits at clock-aligned moments; the entry's start submits once the mapped
    entities have states; the action and the button submit at once.

    Every wait runs on the monotonic clock: a wall-clock step (NTP on a host
    without a real-time clock) neither holds a change back for the length of
    the step nor stops the heartbeat; the heartbeat's moment is aligned to the
    wall clock again when it is scheduled. After a step back the clock lives
    the same moments again: a heartbeat identical to one already taken (same
    time and values, so the same record) is not taken twice.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        context: DeviceContext,
        mapping: BatteryMapping,
        settings: Settings,
        sender: Sender,
    ) -> None:
        """Schedule for the device of ``context``; nothing listens before ``start``."""
        self.hass = hass
        self.context = context
        self.log = context.log
        self.mapping = mapping
        self.settings = settings
        self.sender = sender
        self._pending_change: datetime | None = None
        self._flush_unsub: CALLBACK_TYPE | None = None
        self._heartbeat_unsub: CALLBACK_TYPE | None = None
        self._heartbeat_due: datetime | None = None
        interval = settings.heartbeat_interval.total_seconds()
        # The records of the heartbeats of about the last day.
        self._heartbeats: deque[str | None] = deque(
            maxlen=math.ceil(86_400 / interval) + 1
        )
        self._last_snapshot: float | None = None  # time.monotonic()
        self._start_snapshot = True  # until the entry's first snapshot is taken
        sender.on_drain_end = self._close_drain

    @callback
    def start(self) -> None:
        """Start once Home Assistant runs; every listener stops with the entry.

        Delivery starts then too, so that a restored outbox does not compete
        with Home Assistant's start.
        """
        self.context.async_on_unload(
            async_at_started(self.hass, self._async_on_started)
        )

    async def _async_on_started(self, hass: HomeAssistant) -> None:
        """Take the start snapshot, deliver it and what the outbox kept, listen.

        The start snapshot first: the current state goes before the backlog.
        """
        self._try_start_snapshot()
        self.sender.start()
        entity_ids = self.mapping.entity_ids
        self.context.async_on_unload(
            async_track_state_change_event(hass, entity_ids, self._on_state_change)
        )
        self.context.async_on_unload(
            async_track_entity_registry_updated_event(
                hass, entity_ids, self._on_registry_update
            )
        )
        self._schedule_heartbeat(dt_util.utcnow())

    @callback
    def stop(self) -> None:
        """Queue a change still waiting (coalescing or in the minimum gap)."""
        if self._heartbeat_unsub is not None:
            self._heartbeat_unsub()
            self._heartbeat_unsub = None
        if self._flush_unsub is not None:
            self._flush_unsub()
            self._flush(dt_util.utcnow())

    # --- triggers -------------------------------------------------------------

    @callback
    def _try_start_snapshot(self) -> None:
        """Submit the current state at the entry's start, once it can be read."""
        with self._trigger():
            self.check_mapping()
            state = self._snapshot(dt_util.utcnow())
            self._start_snapshot = False
            if _same_values(state, self.sender.outbox.newest):
                # The change queued at the last unload holds these values already.
                return
            self.sender.enqueue(state)

    @callback
    def _on_state_change(self, event: Event[EventStateChangedData]) -> None:
        if self._start_snapshot:
            self._try_start_snapshot()
            return
        if not self.settings.submit_on_change:
            return
        new_state = event.data["new_state"]
        when = new_state.last_updated if new_state else dt_util.utcnow()
        if self._pending_change is None or when > self._pending_change:
            self._pending_change = when
        if self._flush_unsub is not None:
            return
        delay = COALESCE_DELAY.total_seconds()
        if self._last_snapshot is not None:
            gap = self.settings.min_interval.total_seconds()
            delay = max(delay, self._last_snapshot + gap - time.monotonic())
        self._flush_unsub = async_call_later(self.hass, delay, self._flush)

    @callback
    def _flush(self, _now: datetime) -> None:
        self._flush_unsub = None
        when, self._pending_change = self._pending_change, None
        if when is not None:
            self._queue_snapshot(when)

    def _schedule_heartbeat(self, now: datetime) -> None:
        """Schedule the heartbeat at the first clock boundary strictly after ``now``.

        Not the boundary just due again (a timer that fired a little early).
        The wait is monotonic: a wall-clock step does not move it.
        """
        interval = self.settings.heartbeat_interval.total_seconds()
        boundary = (math.floor(now.timestamp() / interval) + 1) * interval
        if self._heartbeat_due is not None:
            if boundary == self._heartbeat_due.timestamp():
                boundary += interval
        self._heartbeat_due = dt_util.utc_from_timestamp(boundary)
        self._heartbeat_unsub = async_call_later(
            self.hass, boundary - now.timestamp(), self._heartbeat
        )

    @callback
    def _heartbeat(self, _scheduled: datetime) -> None:
        """Submit the latest values, stamped with the time the heartbeat runs.

        After a host sleep or a clock step the scheduled moment can be hours
        old (or ahead): the record says when it was really taken.
        """
        now = dt_util.utcnow()
        self._schedule_heartbeat(now)
        self._supersede_pending_change()
        self._queue_snapshot(now, heartbeat=True)

    @callback
    def _close_drain(self) -> None:
        """The backlog ended a drain: Flatpeak's last record is old; send the current."""
        self._supersede_pending_change()
        self._queue_snapshot(dt_util.utcnow())

    def _supersede_pending_change(self) -> None:
        """A snapshot taken now carries the latest values: drop a waiting change."""
        if self._flush_unsub is not None:
            self._flush_unsub()
            self._flush_unsub = None
        self._pending_change = None

    # --- snapshots ------------------------------------------------------------

    def _snapshot(
        self, when: datetime, overrides: Mapping[str, Any] | None = None
    ) -> DeviceState:
        state = build_device_state(self.hass, self.mapping, when, overrides)
        return with_reference_id(self.sender.device_id, state)

    @callback
    def _queue_snapshot(self, when: datetime, *, heartbeat: bool = False) -> None:
        with self._trigger():
            self.check_mapping()
            state = self._snapshot(when)
            if self.sender.outbox.holds(state):
                # This very record (the same time and values) is queued or at
                # Flatpeak: a drain's close, or a change in a heartbeat's instant.
                return
            if heartbeat:
                if state.record_reference_id in self._heartbeats:
                    self.log.debug("Heartbeat at %s taken already (a clock step)", when)
                    return
                self._heartbeats.append(state.record_reference_id)
            self._start_snapshot = False
            self._last_snapshot = time.monotonic()
            self.sender.enqueue(state)

    @contextmanager
    def _trigger(self) -> Iterator[None]:
        """Run a trigger's snapshot; nothing raised leaves a timer or a listener.

        A snapshot that cannot be taken shows on the status. Anything else is
        a bug: it is logged with its trace, and the status says ``error``.
        """
        try:
            yield
        except SnapshotError as err:
            self.log.debug("No snapshot taken: %s", err.translation_key)
            self.sender.snapshot_failed(err)
        except Exception as err:
            self.log.exception("Unexpected error; no snapshot was queued")
            self.sender.snapshot_failed(
                SnapshotError(
                    SubmissionStatus.ERROR,
                    "snapshot_failed",
                    entity_id=", ".join(self.mapping.entity_ids),
                    reason=str(err)[:100],
                )
            )

    async def async_submit_now(
        self, overrides: Mapping[str, Any] | None = None
    ) -> tuple[DeviceState, DeviceStateRecord]:
        """Take a snapshot now (bypassing the minimum gap) and wait for its record.

        It supersedes a change waiting out the minimum gap. Raise
        ``SnapshotError`` when a value cannot be read, ``SubmissionError``
        when Flatpeak did not accept it (yet).
        """
        state = self._snapshot(dt_util.utcnow(), overrides)
        self._supersede_pending_change()
        self._start_snapshot = False
        self._last_snapshot = time.monotonic()
        return state, await self.sender.async_submit(state)

    # --- the mapping ----------------------------------------------------------

    @callback
    def _on_registry_update(
        self, event: Event[er.EventEntityRegistryUpdatedData]
    ) -> None:
        """Follow a renamed entity; re-check the mapping when one is removed."""
        data = event.data
        if data["action"] == "update" and "old_entity_id" in data:
            old, new = data["old_entity_id"], data["entity_id"]
            options = {
                key: new if value == old else value
                for key, value in self.context.options.items()
            }
            self.log.info("Mapped entity %s was renamed to %s", old, new)
            # The account entry's update listener reloads it.
            self.context.async_update_options(options)
        elif data["action"] == "remove":
            self.check_mapping()

    @callback
    def check_mapping(self) -> None:
        """Raise (or clear) the repair issue of a mapping that stopped working."""
        options = self.context.options
        if not (problems := mapping_problems(self.hass, options)):
            async_delete_mapping_issue(self.hass, self.context.storage_id)
            return
        async_create_mapping_issue(
            self.hass,
            self.context,
            ", ".join(sorted(str(options[field]) for field in problems)),
        )


def _same_values(state: DeviceState, other: DeviceState | None) -> bool:
    """Return whether two snapshots carry the same values, whatever their time."""
    if other is None:
        return False
    ignored = ("time", "record_reference_id")
    ours, theirs = state.to_json(), other.to_json()
    for key in ignored:
        ours.pop(key, None)
        theirs.pop(key, None)
    return ours == theirs
