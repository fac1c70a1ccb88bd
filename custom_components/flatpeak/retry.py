"""How long the sender waits: backoff after failures, pace after a 429, backlog delay."""

from __future__ import annotations

import random

from .const import (
    BACKLOG_DELAY_MAX,
    BACKOFF_BASE,
    BACKOFF_MAX,
    RATE_AFTER_429,
    RATE_MIN,
    RATE_STEP,
    RATE_UNLIMITED,
)


def backoff_delay(failures: int) -> float:
    """Return the wait after ``failures`` consecutive failures (with jitter).

    The exponent is bounded, so that no number of failures can overflow it.
    """
    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** min(max(0, failures - 1), 16))
    return float(delay / 2 + random.uniform(0, delay / 2))  # noqa: S311


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


def backlog_delay() -> float:
    """Return the random wait before a backlog starts (0 to BACKLOG_DELAY_MAX s)."""
    return float(random.uniform(0, BACKLOG_DELAY_MAX))  # noqa: S311
