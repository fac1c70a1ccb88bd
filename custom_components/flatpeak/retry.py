"""How long the sender waits: backoff after failures, pace after a 429."""

from __future__ import annotations

import random

from .const import BACKOFF_BASE, BACKOFF_MAX, PACE_AFTER_429, PACE_MAX, PACE_STEP


def backoff_delay(failures: int) -> float:
    """Return the wait after ``failures`` consecutive failures (with jitter).

    The exponent is bounded, so that no number of failures can overflow it.
    """
    delay = min(BACKOFF_MAX, BACKOFF_BASE * 2 ** min(max(0, failures - 1), 16))
    return float(delay / 2 + random.uniform(0, delay / 2))  # noqa: S311


class Pace:
    """The gap between records of a backlog: none until Flatpeak says 429.

    Additive increase, multiplicative decrease of the rate: a 429 doubles the
    gap (from ``PACE_AFTER_429`` up to ``PACE_MAX``); each accepted record
    shortens it by ``PACE_STEP`` until records go back to back again.
    """

    def __init__(self) -> None:
        """Start back to back."""
        self.gap = 0.0

    def rate_limited(self) -> None:
        """Flatpeak answered 429: slow down."""
        self.gap = min(PACE_MAX, max(PACE_AFTER_429, 2 * self.gap))

    def accepted(self) -> float:
        """A record was accepted: speed up; return the gap before the next one."""
        self.gap = max(0.0, self.gap - PACE_STEP)
        return self.gap
