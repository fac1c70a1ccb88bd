"""A timer at the next slot boundary of known prices: the price shown changes, no request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util

from ..api import PriceSeries
from .policy import next_boundary


class SlotTimer:
    """Calls ``on_boundary`` whenever a slot of the series starts or ends."""

    def __init__(self, hass: HomeAssistant, on_boundary: Callable[[], None]) -> None:
        """Call ``on_boundary`` (a callback) at each boundary once armed."""
        self._hass = hass
        self._on_boundary = on_boundary
        self._series: PriceSeries | None = None
        self._unsub: CALLBACK_TYPE | None = None

    @callback
    def arm(self, series: PriceSeries | None) -> None:
        """Follow ``series`` (None: nothing to follow) from now on."""
        self.cancel()
        self._series = series
        if series is None:
            return
        if (moment := next_boundary(series, dt_util.utcnow())) is not None:
            self._unsub = async_track_point_in_utc_time(
                self._hass, self._at_boundary, moment
            )

    @callback
    def _at_boundary(self, _now: datetime) -> None:
        self._unsub = None
        self.arm(self._series)
        self._on_boundary()

    @callback
    def cancel(self) -> None:
        """Stop (unload)."""
        if self._unsub is not None:
            self._unsub()
            self._unsub = None
