"""The persistent outbox: every snapshot waits here until Flatpeak has it."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from datetime import datetime, timedelta
import logging
from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.helpers.storage import STORAGE_DIR
from homeassistant.util import dt as dt_util

from ..api import DeviceState
from ..const import DOMAIN, LOGGER
from .journal import Journal
from .journal_lines import Entry
from .outbox_migration import store_0_1_0
from .outbox_restore import async_restore
from .outbox_writer import OutboxWriter
from .run_clock import RunClock


def _journal(hass: HomeAssistant, storage_id: str) -> Journal:
    return Journal(
        Path(hass.config.path(STORAGE_DIR, f"{DOMAIN}.{storage_id}.outbox.jsonl"))
    )


async def async_remove_outbox(hass: HomeAssistant, storage_id: str) -> None:
    """Delete every file of a removed device's outbox."""
    await hass.async_add_executor_job(_journal(hass, storage_id).remove)
    await store_0_1_0(hass, storage_id).async_remove()


class Outbox:
    """A bounded queue of device states, persisted in a journal (``delivery/journal.py``).

    Order (``peek``), by queue order (the records' numbers), never by their
    times (a clock step): the current state first, that is the newest record
    when it is newer than the newest one Flatpeak accepted; then the backlog,
    oldest first. ``newest_sent`` is saved in the journal, so that after a
    restart a backlog stays a backlog. ``drain_ended_stale`` says when the
    last record Flatpeak accepted is older than the newest it has (the backlog
    ended the drain): then the current state is to be sent again.

    Bounds: records older than ``max_age`` (by the wall clock *and* by the run
    time since they were queued, ``delivery/run_clock.py``: a clock step drops nothing)
    and records beyond ``max_records`` are dropped, oldest first; drops are
    counted and logged once per episode.
    The record ``peek`` returned is in flight until ``delivered``, ``reject``
    or ``release``: ``prune`` never drops it.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        storage_id: str,
        *,
        max_age: timedelta,
        max_records: int,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = LOGGER,
    ) -> None:
        """Create an empty outbox; ``async_load`` restores the saved one.

        ``storage_id`` names its files (the device subentry's ID).
        """
        self._hass = hass
        self._storage_id = storage_id
        self.log = log
        self._records: deque[Entry] = deque()
        self._next_number = 0
        self._in_flight: Entry | None = None
        # Numbers of the newest record Flatpeak accepted, and of the last one.
        self._newest_sent = -1
        self._last_sent = -1
        self.last_sent: DeviceState | None = None  # the last record accepted
        self._newest_accepted: DeviceState | None = None
        self.max_age = max_age
        self.max_records = max_records
        self.dropped = 0
        self.rejected = 0
        # Files kept after a read error that still cannot be read: path: error.
        self.unreadable: dict[str, str] = {}
        self._drop_logged = False
        self.run_clock = RunClock()
        self._writer = OutboxWriter(
            hass,
            _journal(hass, storage_id),
            lambda: self._records,
            lambda: (self.dropped, self.rejected),
            lambda: (self.run_clock.now(), self._newest_sent),
            log=log,
        )

    def __len__(self) -> int:
        """Return how many records wait for delivery."""
        return len(self._records)

    def __iter__(self) -> Iterator[DeviceState]:
        """Iterate over the waiting records, oldest first."""
        return (entry.state for entry in self._records)

    def __bool__(self) -> bool:
        """Return whether a record waits for delivery."""
        return bool(self._records)

    @property
    def bytes_written(self) -> int:
        """Return how many bytes this outbox wrote to its journal."""
        return self._writer.journal.bytes_written

    async def async_load(self) -> None:
        """Restore the saved records (file I/O and parsing in the executor).

        Files kept after a read error and the 0.1.0 ``Store`` outbox are merged
        (``delivery/outbox_restore.py``); they are removed only once the journal holding
        their records is on disk: after the load's flush, or after the first
        rewrite that succeeds when that flush failed (else a later start would
        merge them again: records delivered meanwhile sent again, counters
        added twice).
        """
        restored = await async_restore(
            self._hass, self._writer.journal, self._storage_id
        )
        contents = restored.contents
        self._records = deque(contents.entries)
        self._next_number = contents.next_number
        self.dropped, self.rejected = contents.dropped, contents.rejected
        self.unreadable = restored.unreadable
        self.run_clock.restart(contents.run_time)
        self._newest_sent = contents.newest_sent
        self._writer.loaded(contents, rewrite=restored.rewrite)
        self.prune()
        if restored.rewrite:
            await self._writer.async_flush()
            if self._writer.synced:
                await restored.async_clean_up()
            else:  # merged again at each start until a rewrite succeeds
                self._writer.after_rewrite(restored.async_clean_up)

    async def async_flush(self) -> None:
        """Write every pending change now and wait until it is on disk."""
        await self._writer.async_flush()

    async def async_close(self) -> None:
        """Write every pending change and stop the flush timer (at unload)."""
        await self._writer.async_close()

    def append(self, state: DeviceState) -> None:
        """Queue a record, dropping the oldest beyond the bounds."""
        entry = Entry(self._next_number, state, self.run_clock.now())
        self._next_number += 1
        self._records.append(entry)
        self._writer.added(entry)
        self.prune()

    @property
    def newest(self) -> DeviceState | None:
        """Return the record queued last, or None."""
        return self._records[-1].state if self._records else None

    @property
    def oldest(self) -> DeviceState | None:
        """Return the oldest record, or None, without putting it in flight."""
        return self._records[0].state if self._records else None

    def peek(self, *, backlog: bool = True) -> DeviceState | None:
        """Return the record to send next, or None; it is in flight from now on.

        The current state if one waits; else the oldest record of the backlog,
        unless ``backlog`` is False.
        """
        records = self._records
        if not records:
            return None
        if records[-1].number > self._newest_sent:
            self._in_flight = records[-1]
        elif backlog:
            self._in_flight = records[0]
        else:
            return None
        return self._in_flight.state

    @property
    def drain_ended_stale(self) -> bool:
        """Return whether the outbox is empty and Flatpeak's last record is old."""
        return not self._records and self._last_sent < self._newest_sent

    def holds(self, state: DeviceState) -> bool:
        """Return whether ``state`` is the newest record queued, or one Flatpeak has.

        A snapshot equal to the newest queued record, or to the one Flatpeak
        accepted last or as its newest (the same time and values: the same
        ``record_reference_id``), is that record: queued again, it would be
        sent twice.
        """
        return state in (self.newest, self.last_sent, self._newest_accepted)

    def release(self) -> None:
        """End the in-flight state of the peeked record (the attempt failed)."""
        self._in_flight = None

    def delivered(self, state: DeviceState) -> None:
        """Remove a record Flatpeak accepted."""
        if (entry := self._remove(state)) is not None:
            self.last_sent = entry.state
            self._last_sent = entry.number
            if entry.number > self._newest_sent:
                self._newest_sent = entry.number
                self._newest_accepted = entry.state
        self._drop_logged = False

    def reject(self, state: DeviceState) -> None:
        """Remove a record Flatpeak refused for good; it is counted.

        A refused current state (a closing snapshot too) ends a drain as it
        is: a fresh snapshot of the same values would be refused again.
        """
        if (entry := self._remove(state)) is not None:
            self.rejected += 1
            if entry.number > self._newest_sent:
                self._last_sent = self._newest_sent

    def _remove(self, state: DeviceState) -> Entry | None:
        records = self._records
        if records and (records[0].state is state or records[0].state == state):
            entry = records.popleft()
        elif records and (records[-1].state is state or records[-1].state == state):
            entry = records.pop()
        else:
            found = next((entry for entry in records if entry.state == state), None)
            if found is None:
                return None
            records.remove(found)
            entry = found
        if entry is self._in_flight:
            self._in_flight = None
        self._writer.removed(entry.number)
        return entry

    def prune(self, now: datetime | None = None) -> int:
        """Drop records beyond the bounds, oldest first; return how many.

        The record in flight, wherever it is in the queue, is neither dropped
        nor counted.
        """
        oldest = (now or dt_util.utcnow()) - self.max_age
        queued_before = self.run_clock.now() - self.max_age.total_seconds()
        records = self._records
        held: Entry | None = None
        dropped = 0
        while records:
            head = records[0]
            if head is self._in_flight:
                held = records.popleft()
                continue
            if len(records) + (held is not None) <= self.max_records and not (
                head.state.time < oldest and (head.queued_at or 0.0) < queued_before
            ):
                break
            self._writer.removed(records.popleft().number)
            dropped += 1
        if held is not None:
            records.appendleft(held)
        if dropped:
            self.dropped += dropped
            if not self._drop_logged:
                self._drop_logged = True
                self.log.warning(
                    "Outbox bound reached (%s records or %s old): dropped the "
                    "oldest records; further drops are counted, not logged",
                    self.max_records,
                    self.max_age,
                )
        return dropped
