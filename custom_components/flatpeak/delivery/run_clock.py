"""The outbox's run-time clock: the seconds the integration has actually run.

A wall-clock step (NTP on a host without a real-time clock) must not age the
outbox: a record is dropped by age only when it is older than the bound by the
wall clock *and* by this clock. It counts monotonic seconds, so a step in
either direction does not move it, and it goes on from the value the journal
saved at the last start (``delivery/journal_lines.py``: the ``t`` of the counters line,
the ``q`` of each record), so it counts across restarts; the time Home
Assistant was off is not counted.
"""

from __future__ import annotations

import time


class RunClock:
    """Seconds of run time: ``start`` (from the journal) plus monotonic seconds since."""

    def __init__(self, start: float = 0.0) -> None:
        """Count from ``start`` seconds, now."""
        self._start = start
        self._since = time.monotonic()

    def now(self) -> float:
        """Return the run time now, in seconds."""
        return self._start + time.monotonic() - self._since

    def restart(self, start: float) -> None:
        """Count from ``start`` seconds, now (the value a journal saved)."""
        self._start = start
        self._since = time.monotonic()
