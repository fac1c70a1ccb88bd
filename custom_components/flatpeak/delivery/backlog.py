"""When a backlog may go: after a random delay, once per drain.

After a failure, and at start, the backlog (not the current state) waits a
random delay of up to ``BACKLOG_DELAY_MAX`` (``retry.backlog_delay``), drawn
once per drain, so that homes recovering from one Flatpeak outage (or one
power cut) do not all drain in the same second. The delay runs on the
monotonic clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
import time

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from ..const import LOGGER
from .retry import backlog_delay


class BacklogGate:
    """Opens for the backlog once its delay has passed; ``kick`` then restarts delivery."""

    def __init__(self, hass: HomeAssistant, kick: Callable[[], None]) -> None:
        """Start recovering: a start is a recovery (after a power cut, say)."""
        self._hass = hass
        self._kick = kick
        self._recovering = True
        self._at: float | None = None  # time.monotonic() when the backlog may go
        self._timer: CALLBACK_TYPE | None = None

    def failed(self) -> None:
        """A delivery failed: the next backlog waits (if this drain has not yet)."""
        self._recovering = True

    def open(self, queued: int) -> bool:
        """Return whether the backlog may go now; else arm a timer that kicks."""
        if not self._recovering:
            return True
        now = time.monotonic()
        if self._at is None:
            self._at = now + backlog_delay()
            LOGGER.debug(
                "Backlog of %s record(s) starts in %.1f s", queued, self._at - now
            )
        if now >= self._at:
            return True
        if self._timer is None:
            self._timer = async_call_later(self._hass, self._at - now, self._due)
        return False

    def drained(self) -> None:
        """The outbox is empty: the next drain draws its own delay."""
        self._recovering = False
        self._at = None
        self.cancel()

    def cancel(self) -> None:
        """Stop the timer (at stop)."""
        if self._timer is not None:
            self._timer()
            self._timer = None

    @callback
    def _due(self, _now: datetime) -> None:
        self._timer = None
        self._kick()
