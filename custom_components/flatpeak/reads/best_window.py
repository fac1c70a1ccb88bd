"""The ``flatpeak.find_best_window`` action: the cheapest (or dearest) minutes of a window.

``POST /schedules/duration`` for the device's location (the first of its
``locations``): ``duration`` minutes of slots within ``[start, end)``, at most
three days, possibly in several pieces. The answer is in Home Assistant's time
zone: each slot (start, end, price, confidence, forecast, VPP event), the
periods (slots that touch, joined: one switch-on each), and the whole (first
start, last end, minutes, duration-weighted average price, currency, unit).

The account's option to read prices in the background does not apply here:
an action is the user's explicit request, one request per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Self

from homeassistant.const import ATTR_CONFIG_ENTRY_ID, CONF_DEVICE
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import config_validation as cv
from homeassistant.util import dt as dt_util
import voluptuous as vol

from ..account.runtime import FlatpeakRuntimeData
from ..api import (
    MAX_SCHEDULE_WINDOW,
    FlatpeakAuthenticationError,
    FlatpeakError,
    ScheduleSegment,
    ScheduleSlot,
    TariffDirection,
)
from ..const import DOMAIN
from ..delivery.errors import classify, read_failure, validation_error

SEGMENTS = {"cheapest": ScheduleSegment.LOW, "dearest": ScheduleSegment.HIGH}
DIRECTIONS = {"import": TariffDirection.IMPORT, "export": TariffDirection.EXPORT}
# Flatpeak's prices carry at most 5 decimals; so does the average.
PRICE_DECIMALS = 5


def _whole_number(value: Any) -> int:
    """Return ``value`` as an int if it is a whole number (``90``, ``90.0``, ``"90"``)."""
    if isinstance(value, bool):
        raise vol.Invalid("expected whole minutes")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise vol.Invalid("expected whole minutes") from None
    if not number.is_integer():
        raise vol.Invalid("expected whole minutes")
    return int(number)


def _choice(options: Mapping[str, Any]) -> Any:
    return vol.All(cv.string, vol.Lower, vol.In(list(options)))


FIND_BEST_WINDOW_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional(CONF_DEVICE): cv.string,
        vol.Required("duration"): _whole_number,
        vol.Optional("start"): vol.Any(None, cv.datetime),
        vol.Required("end"): cv.datetime,
        vol.Optional("segment", default="cheapest"): _choice(SEGMENTS),
        vol.Optional("direction", default="import"): _choice(DIRECTIONS),
    }
)


def _local(moment: datetime) -> str:
    """Return ``moment`` in Home Assistant's time zone, ISO 8601, to the second."""
    return dt_util.as_local(moment).replace(microsecond=0).isoformat()


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowRequest:
    """What the action was asked, checked: an aware UTC window and whole minutes."""

    start: datetime
    end: datetime
    minutes: int
    segment: str  # a key of SEGMENTS
    direction: str  # a key of DIRECTIONS

    @classmethod
    def from_data(cls, data: Mapping[str, Any], now: datetime) -> Self:
        """Check the action's data; a naive time is Home Assistant's local time.

        Raises a translated ``ServiceValidationError`` for a duration that is
        not positive, a window that ended already (nothing left to find), one
        that ends before it starts or is longer than three days, and a
        duration longer than the window.
        """
        minutes: int = data["duration"]
        start = dt_util.as_utc(data.get("start") or now.replace(microsecond=0))
        end = dt_util.as_utc(data["end"])
        if minutes <= 0:
            raise validation_error("duration_not_positive", duration=str(minutes))
        if end <= now:
            raise validation_error("window_in_past", end=_local(end), now=_local(now))
        if end <= start:
            raise validation_error(
                "window_reversed", start=_local(start), end=_local(end)
            )
        if end - start > MAX_SCHEDULE_WINDOW:
            raise validation_error(
                "window_too_long",
                start=_local(start),
                end=_local(end),
                days=str(MAX_SCHEDULE_WINDOW.days),
            )
        if timedelta(minutes=minutes) > end - start:
            raise validation_error(
                "duration_exceeds_window",
                duration=str(minutes),
                window=str(int((end - start).total_seconds() // 60)),  # whole minutes
            )
        return cls(
            start=start,
            end=end,
            minutes=minutes,
            segment=data["segment"],
            direction=data["direction"],
        )


async def async_find_best_window(
    runtime: FlatpeakRuntimeData, request: WindowRequest
) -> dict[str, Any]:
    """Ask Flatpeak for the window and return the action's response.

    Flatpeak's refusals and failures become translated errors; refused
    credentials are the account's matter, as for a submission.
    """
    direction = DIRECTIONS[request.direction]
    try:
        device = await runtime.async_flatpeak_device()
        if not device.locations:
            raise validation_error("no_location", device=runtime.context.title)
        schedule = await runtime.client.find_schedule_by_duration(
            device.locations[0],
            start=request.start,
            end=request.end,
            duration_minutes=request.minutes,
            segment=SEGMENTS[request.segment],
            device_id=runtime.context.device_id,
            direction=direction,
        )
    except FlatpeakError as err:
        if isinstance(err, FlatpeakAuthenticationError):
            runtime.context.credentials_refused(classify(err))
        key, placeholders = read_failure(err, direction.value)
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders=placeholders,
        ) from None
    return {
        "device_id": runtime.context.device_id,
        "location_id": schedule.location_id or device.locations[0],
        "segment": request.segment,
        "direction": request.direction,
        **_summary(schedule.slots),
        "currency": schedule.currency_code,
        "unit": schedule.unit,
        "forecast": any(slot.is_forecast for slot in schedule.slots),
        "periods": [_summary(period) for period in _periods(schedule.slots)],
        "slots": [_slot(slot) for slot in schedule.slots],
    }


def _number(value: float) -> int | float:
    """Return a whole number as an int, else rounded to two decimals."""
    return int(value) if float(value).is_integer() else round(value, 2)


def _seconds(slot: ScheduleSlot) -> float:
    return (slot.end - slot.start).total_seconds()


def _summary(slots: Sequence[ScheduleSlot]) -> dict[str, Any]:
    """Return the first start, last end, minutes and average price of ``slots``."""
    seconds = sum(_seconds(slot) for slot in slots)
    return {
        "start": _local(slots[0].start) if slots else None,
        "end": _local(max(slot.end for slot in slots)) if slots else None,
        "minutes": _number(seconds / 60),
        "average_price": round(
            sum(slot.value * _seconds(slot) for slot in slots) / seconds,
            PRICE_DECIMALS,
        )
        if seconds
        else None,
    }


def _periods(slots: Sequence[ScheduleSlot]) -> list[list[ScheduleSlot]]:
    """Return the slots (by start) in runs without a gap between them."""
    periods: list[list[ScheduleSlot]] = []
    for slot in slots:
        if periods and max(s.end for s in periods[-1]) >= slot.start:
            periods[-1].append(slot)
        else:
            periods.append([slot])
    return periods


def _slot(slot: ScheduleSlot) -> dict[str, Any]:
    return {
        "start": _local(slot.start),
        "end": _local(slot.end),
        "price": slot.value,
        "confidence": slot.confidence,
        "forecast": slot.is_forecast,
        "vpp_event": slot.vpp_event,
    }
