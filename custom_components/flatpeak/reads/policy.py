"""When to read what Flatpeak holds, and what an answer means; no I/O here.

The coordinators (``coordinator.py``) ask these questions: how long to wait
after a failure, which price window to ask for, when the prices should be read
again, which slots the price sensors show, when the price shown changes next,
and whether Flatpeak's newest state lags what it accepted from us.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from ..api import PriceSeries, PriceSlot, VppParticipation
from ..api.fields import parse_time
from ..const import (
    PRICE_MIN_AHEAD,
    PRICE_READ_INTERVAL,
    PRICE_READ_INTERVAL_SHORT,
    PRICE_SLOTS_AHEAD,
    PRICE_SLOTS_MAX,
    PRICE_WINDOW,
    READ_RETRY_MAX,
    READ_RETRY_MIN,
    STATE_LAG_LIMIT,
)


def retry_interval(failures: int, longest: timedelta) -> timedelta:
    """Return the wait after ``failures`` failed reads in a row.

    ``READ_RETRY_MIN`` (15 min, what Flatpeak asks for prices) after the
    first, doubling, at most ``READ_RETRY_MAX`` (2 h) or ``longest`` (the
    concern's own interval) if that is longer: a read every 15 min that
    keeps failing backs off too (15, 30, 60 min, 2 h), not 4 tries an hour.
    """
    wait = READ_RETRY_MIN * (1 << min(max(failures, 1) - 1, 10))
    return max(READ_RETRY_MIN, min(wait, max(longest, READ_RETRY_MAX)))


def price_window(now: datetime) -> tuple[datetime, datetime]:
    """Return the window to ask prices for: from the start of this hour on.

    From the hour, not from now: the slot valid now comes whole (Flatpeak
    cuts slots at the window's ends).
    """
    start = now.replace(minute=0, second=0, microsecond=0)
    return start, start + PRICE_WINDOW


def actual_ahead(series: PriceSeries, now: datetime) -> timedelta:
    """Return how far past ``now`` the actual prices (not forecasts) reach."""
    ends = [slot.end for slot in series.slots if not slot.is_forecast]
    return max((end - now for end in ends), default=timedelta(0))


def price_interval(series: PriceSeries, now: datetime) -> timedelta:
    """Return when to read the prices again after ``series`` came.

    Hourly while fewer than ``PRICE_MIN_AHEAD`` of actual prices are known
    ahead (the next day's prices are awaited), else every 2 hours to see
    Flatpeak change them.
    """
    if actual_ahead(series, now) < PRICE_MIN_AHEAD:
        return PRICE_READ_INTERVAL_SHORT
    return PRICE_READ_INTERVAL


def coming_slots(series: PriceSeries, now: datetime) -> list[PriceSlot]:
    """Return the slots the price sensors list: the current one and the coming.

    Up to ``PRICE_SLOTS_AHEAD`` past the start of the slot valid now (so the
    list changes at slot boundaries only, not as the clock moves) and at most
    ``PRICE_SLOTS_MAX`` of them.
    """
    current = series.slot_at(now)
    horizon = (current.start if current else now) + PRICE_SLOTS_AHEAD
    return [slot for slot in series.slots if slot.end > now and slot.start < horizon][
        :PRICE_SLOTS_MAX
    ]


def next_boundary(series: PriceSeries, now: datetime) -> datetime | None:
    """Return the next moment after ``now`` when a slot starts or ends."""
    moments = [
        moment
        for slot in series.slots
        for moment in (slot.start, slot.end)
        if moment > now
    ]
    return min(moments, default=None)


def accepted_time(last_body: Mapping[str, Any] | None) -> datetime | None:
    """Return the ``time`` of our last accepted record (its body), if readable."""
    if not last_body:
        return None
    try:
        return parse_time(last_body.get("time"))
    except (TypeError, ValueError):
        return None


def lags(flatpeak_time: datetime, accepted: datetime | None) -> bool:
    """Return whether Flatpeak's newest state lags our last accepted record.

    More than ``STATE_LAG_LIMIT`` behind: the record was accepted (2xx) but
    Flatpeak does not show it.
    """
    return accepted is not None and accepted - flatpeak_time > STATE_LAG_LIMIT


def current_participation(
    items: tuple[VppParticipation, ...] | None,
) -> VppParticipation | None:
    """Return the device's participation shown: the newest (the API's first)."""
    return items[0] if items else None
