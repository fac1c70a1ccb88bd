"""Writes the outbox's changes to its journal: on a timer, off the loop, in order."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from functools import partial
import logging

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from ..const import LOGGER
from .journal import Journal
from .journal_lines import Entry, JournalContents, Preserved, counters_line

# A change is on disk at most this long (plus the write itself) after it
# happened, whatever the arrival rate: new changes never postpone the timer.
FLUSH_DELAY = 5.0  # seconds
# Compact once the file holds at least this many dead record lines, and no
# fewer dead lines than live ones.
COMPACT_MIN_DEAD = 1000

type Counters = tuple[int, int]


class OutboxWriter:
    """Collects the outbox's changes and writes them to the journal.

    The first change after a write starts a ``FLUSH_DELAY`` timer; later
    changes join the pending batch and never postpone it. A record queued and
    removed within the same batch (delivered at once, as usual when Flatpeak
    is reachable) never touches the disk.

    Writes are executor jobs, one at a time and in order: ``_async_run`` takes
    the next batch only once the previous one is on disk (fsynced). The file is
    compacted (rewritten with the live records) when its dead record lines
    reach ``COMPACT_MIN_DEAD`` and outnumber the live ones, so every byte
    rewritten was paid for by a record line that died: the cost of a record
    does not depend on the size of the outbox. After a failed write the next
    one is a rewrite from memory, so nothing is lost while Home Assistant runs.
    """

    def __init__(
        self,
        hass: HomeAssistant,
        journal: Journal,
        entries: Callable[[], Sequence[Entry]],
        counters: Callable[[], Counters],
        marks: Callable[[], tuple[float, int]],
        *,
        log: logging.Logger | logging.LoggerAdapter[logging.Logger] = LOGGER,
    ) -> None:
        """Write to ``journal``; ``entries``/``counters``/``marks`` read the outbox.

        ``marks``: the run time and the newest record sent, saved with the
        counters whenever a line is written anyway.
        """
        self._hass = hass
        self._log = log
        self.journal = journal
        self._entries = entries
        self._counters = counters
        self._marks = marks
        self._saved_newest = -1
        self._added: dict[int, Entry] = {}
        self._removed: list[int] = []
        self._saved_counters: Counters = (0, 0)
        self._preserved = Preserved()  # what a newer version wrote
        self._rewrite = False
        self._in_file = 0  # record lines in the file, or in a job writing it
        self._dead = 0  # of which no longer queued
        self._timer: CALLBACK_TYPE | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._failing = False
        self._save_run_time = False  # at close: the run time so far
        # Run once the next rewrite is on disk (removing what a load merged).
        self._after_rewrite: list[Callable[[], Awaitable[None]]] = []

    @property
    def synced(self) -> bool:
        """Return whether everything known to the writer is on disk."""
        return (
            not self._added
            and not self._removed
            and not self._rewrite
            and self._counters() == self._saved_counters
            and not self._save_run_time
            and (self._task is None or self._task.done())
        )

    @callback
    def loaded(self, contents: JournalContents, *, rewrite: bool) -> None:
        """Take the state of the file just loaded; rewrite it if asked or unclean."""
        self._in_file = len(contents.entries) + contents.dead
        self._dead = contents.dead
        self._saved_counters = (contents.dropped, contents.rejected)
        self._saved_newest = contents.newest_sent
        self._preserved = contents.preserved
        if rewrite or not contents.clean:
            self._rewrite = True
            self.changed()

    @callback
    def after_rewrite(self, job: Callable[[], Awaitable[None]]) -> None:
        """Run ``job`` once a rewrite (every live record) is on disk."""
        self._after_rewrite.append(job)

    @callback
    def added(self, entry: Entry) -> None:
        """Note a queued record."""
        self._added[entry.number] = entry
        self.changed()

    @callback
    def removed(self, number: int) -> None:
        """Note a record that left the outbox."""
        if self._added.pop(number, None) is None:
            self._removed.append(number)
            self._dead += 1
        self.changed()

    @callback
    def changed(self) -> None:
        """Start the flush timer unless it runs already (never postpone it)."""
        if self._timer is None and not self._closed:
            self._timer = async_call_later(self._hass, FLUSH_DELAY, self._on_timer)

    @callback
    def _on_timer(self, _now: datetime) -> None:
        self._timer = None
        self._start()

    @callback
    def _start(self) -> None:
        if self._task is None or self._task.done():
            self._task = self._hass.async_create_task(
                self._async_run(), "flatpeak outbox writer"
            )

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer()
            self._timer = None

    def _take_job(self) -> Callable[[], None] | None:
        """Return the next write, taking everything pending (on the loop)."""
        counters = self._counters()
        if self._rewrite or (
            self._dead >= COMPACT_MIN_DEAD and 2 * self._dead >= self._in_file
        ):
            entries = list(self._entries())
            self._in_file, self._dead, self._rewrite = len(entries), 0, False
            marks = self._marks()
            self._saved_newest = marks[1]
            line = counters_line(counters, marks, self._preserved)
            job = partial(_rewrite, self.journal, entries, line, self._preserved)
        elif (
            self._added
            or self._removed
            or counters != self._saved_counters
            or (self._save_run_time and self._in_file)
        ):
            # The job owns the batch: the writer starts new ones below. The
            # counters line saves the run time with every batch of records.
            line = None
            marks = self._marks()
            if (
                self._added
                or counters != self._saved_counters
                or self._save_run_time
                or marks[1] != self._saved_newest
            ):
                line = counters_line(counters, marks, self._preserved)
                self._saved_newest = marks[1]
            job = partial(_append, self.journal, self._added, self._removed, line)
            self._in_file += len(self._added)
        else:
            return None
        self._added, self._removed = {}, []
        self._save_run_time = False
        self._saved_counters = counters
        self._cancel_timer()
        return job

    async def _async_run(self) -> None:
        while (job := self._take_job()) is not None:
            rewrite = isinstance(job, partial) and job.func is _rewrite
            try:
                await self._hass.async_add_executor_job(job)
            except OSError as err:
                self._rewrite = True  # from memory, next time
                if not self._failing:
                    self._failing = True
                    self._log.warning(
                        "Could not write the outbox to disk (%s); retrying in %s s",
                        err.strerror or err,
                        FLUSH_DELAY,
                    )
                self.changed()
                return
            if self._failing:
                self._failing = False
                self._log.info("The outbox is written to disk again")
            if rewrite and self._after_rewrite:
                jobs, self._after_rewrite = self._after_rewrite, []
                for after in jobs:
                    try:
                        await after()
                    except OSError as err:  # the next start merges it again
                        self._log.warning("Could not clean up the outbox: %s", err)

    async def async_flush(self) -> None:
        """Write everything pending now and wait until it is on disk."""
        self._cancel_timer()
        if self._task is not None and not self._task.done():
            await asyncio.shield(self._task)
        self._start()
        if self._task is not None:
            await asyncio.shield(self._task)

    async def async_close(self) -> None:
        """Write everything pending and the run time; later changes stay in memory."""
        self._save_run_time = True
        await self.async_flush()
        self._save_run_time = False
        self._closed = True
        self._cancel_timer()


# The jobs empty their batch in the executor: freeing a large one is work too.


def _rewrite(
    journal: Journal, entries: list[Entry], counters: bytes, preserved: Preserved
) -> None:
    journal.rewrite(entries, counters, preserved)
    entries.clear()


def _append(
    journal: Journal,
    added: dict[int, Entry],
    removed: list[int],
    counters: bytes | None,
) -> None:
    journal.append(added.values(), removed, counters)
    added.clear()
