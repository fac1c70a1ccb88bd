"""How long the sender waits: backoff after failures, pace after a 429, floors, backlog delay."""

from __future__ import annotations

from datetime import datetime, timedelta
import random
import time

from homeassistant.util import dt as dt_util

from ..const import (
    BACKLOG_DELAY_MAX,
    BACKOFF_MAX,
    BACKOFF_MIN,
    RATE_AFTER_429,
    RATE_MIN,
    RATE_STEP,
    RATE_UNLIMITED,
    RETRY_AFTER_MIN,
)


def backoff_delay(failures: int) -> float:
    """Return the wait after ``failures`` consecutive failures (with jitter).

    Between ``BACKOFF_MIN * 2**(failures-1)`` and twice that, within
    ``BACKOFF_MIN`` (the floor: the first step is 5-10 s) and ``BACKOFF_MAX``.
    The exponent is bounded, so that no number of failures can overflow it.
    """
    high = min(BACKOFF_MAX, 2 * BACKOFF_MIN * 2 ** min(max(0, failures - 1), 16))
    return float(random.uniform(max(BACKOFF_MIN, high / 2), high))  # noqa: S311


class Backoff:
    """The failed automatic attempts in a row, and the wait each one earns.

    A manual attempt (the action, the button) that fails is not counted: it
    leaves the backoff as it was.
    """

    def __init__(self) -> None:
        """Start with no failure."""
        self.failures = 0

    def failed(self) -> float:
        """Count a failed attempt; return the wait it earns."""
        self.failures += 1
        return backoff_delay(self.failures)

    def reset(self) -> None:
        """Flatpeak accepted a record: the next failure is the first again."""
        self.failures = 0


class Pace:
    """The rate of a backlog: back to back until Flatpeak answers 429.

    Additive increase, multiplicative decrease: each 429 halves the rate (the
    first one sets ``RATE_AFTER_429``, never below ``RATE_MIN``); while records
    are accepted the rate grows by ``RATE_STEP`` per second, and above
    ``RATE_UNLIMITED`` records go back to back again.
    """

    def __init__(self) -> None:
        """Start back to back."""
        self.rate: float | None = None  # records per second; None: no limit

    @property
    def gap(self) -> float:
        """Return the seconds between two records."""
        return 0.0 if self.rate is None else 1.0 / self.rate

    def rate_limited(self) -> None:
        """Flatpeak answered 429: halve the rate."""
        self.rate = max(RATE_MIN, (self.rate or 2 * RATE_AFTER_429) / 2)

    def accepted(self) -> float:
        """A record was accepted: raise the rate; return the gap before the next."""
        if self.rate is not None:
            # One record per gap: RATE_STEP * gap per record is RATE_STEP per second.
            self.rate += RATE_STEP / self.rate
            if self.rate >= RATE_UNLIMITED:
                self.rate = None
        return self.gap


class RetryTimes:
    """When delivery is tried next, after a failure or between paced records.

    Bookkeeping only (the sender owns the timer): ``due`` is the next attempt,
    ``not_before`` the end of the part of the wait Flatpeak asked for (a
    ``Retry-After``, the pace after a 429), which a manual attempt may not end.
    Both are kept on the monotonic clock, as the sender's timer is: a
    wall-clock step neither ends a ``Retry-After`` nor turns a failed manual
    attempt's retry into a wait of the step's length. ``due`` is shown to the
    user as a wall-clock time.
    """

    def __init__(self) -> None:
        """Start with no wait."""
        self.backoff = Backoff()
        self.pace = Pace()
        self._due: float | None = None  # time.monotonic() of the next attempt
        self._not_before: float | None = None
        self._manual_due: float | None = None  # the wait a manual attempt ended

    @property
    def due(self) -> datetime | None:
        """Return the next attempt on the wall clock, or None."""
        if self._due is None:
            return None
        return dt_util.utcnow() + timedelta(seconds=self._due - time.monotonic())

    def may_try_now(self) -> bool:
        """Return whether a manual attempt may end the wait now."""
        return self._not_before is None or self._not_before <= time.monotonic()

    def asked_left(self) -> float:
        """Return the seconds left of the wait Flatpeak asked for (0: none)."""
        if self._not_before is None:
            return 0.0
        return max(0.0, self._not_before - time.monotonic())

    def try_now(self) -> None:
        """A manual attempt ends the wait; if it fails, the wait stays as it was."""
        self._manual_due = self._due

    def reset(self) -> None:
        """Flatpeak answered (or a pause ended): the backoff starts over."""
        self.backoff.reset()
        self._manual_due = None

    def accepted(self) -> float:
        """A record was accepted: return the pace's gap before the next one."""
        self.reset()
        gap = self.pace.accepted()
        self._wait(gap, gap)
        return gap

    def failed(self, retry_after: float | None, *, rate_limited: bool) -> float:
        """Return the wait after a failed attempt.

        An automatic attempt counts toward the backoff and waits it, or
        exactly the ``Retry-After`` when Flatpeak sent one; a manual attempt
        leaves the backoff as it was (the same count, the same retry time).
        Flatpeak's ``Retry-After`` and the pace bind either way (after a 429
        the whole wait does), and no wait is shorter than ``RETRY_AFTER_MIN``.
        """
        manual_due, self._manual_due = self._manual_due, None
        if rate_limited:
            self.pace.rate_limited()
        if manual_due is not None:
            ours = manual_due - time.monotonic()
        else:
            ours = self.backoff.failed()
            if retry_after is not None:
                ours = 0.0
        asked = max(retry_after or 0.0, self.pace.gap)
        delay = max(ours, asked, RETRY_AFTER_MIN)
        self._wait(delay, delay if rate_limited else asked)
        return delay

    def _wait(self, delay: float, asked: float) -> None:
        now = time.monotonic()
        self._due = now + delay
        self._not_before = now + asked if asked else None


def backlog_delay() -> float:
    """Return the random wait before a backlog starts (0 to BACKLOG_DELAY_MAX s)."""
    return float(random.uniform(0, BACKLOG_DELAY_MAX))  # noqa: S311
