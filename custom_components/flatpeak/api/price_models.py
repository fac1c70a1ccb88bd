"""Prices and cheapest/dearest windows: ``POST /prices``, ``POST /schedules/duration``.

Money is a float in **major** currency units per kWh (GBP, not pence), as
Flatpeak's guides define it: the unit of a value is ``<currency_code>/kWh``.
Values carry at most 5 decimals and are never summed here, so a float keeps
them exactly as far as Home Assistant shows them. A slot's ``confidence`` of 1
is an actual price; below 1 it is Flatpeak's forecast.

Both documented shapes of a price answer are read: busbar's ``POST /prices``
(``device_id`` and ``tariff_direction`` at the top) and ``POST /prices/{id}``
(``request {start_time, end_time, tariff_direction}``), with ``next_update``
when present. A slot is ``valid_from``/``valid_to`` in prices and
``start_time``/``end_time`` in schedules; either pair is accepted in both. A
slot without a readable start, end or value is skipped and counted in
``skipped_slots`` instead of failing the whole answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from .fields import (
    mapping,
    optional_bool,
    optional_number,
    optional_str,
    optional_time,
    required_list,
)


class TariffDirection(StrEnum):
    """Which tariff a price is for: buying from the grid, selling, or local."""

    IMPORT = "IMPORT"
    EXPORT = "EXPORT"
    LOCAL = "LOCAL"


class ScheduleSegment(StrEnum):
    """Which slots a schedule picks: the cheapest or the dearest."""

    LOW = "LOW"
    HIGH = "HIGH"


def _slot_times(data: Mapping[str, Any]) -> tuple[datetime, datetime] | None:
    start = optional_time(data, "valid_from") or optional_time(data, "start_time")
    end = optional_time(data, "valid_to") or optional_time(data, "end_time")
    if start is None or end is None or end <= start:
        return None
    return start, end


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSlot:
    """One price over ``[start, end)`` (slots are of any length)."""

    start: datetime
    end: datetime
    value: float  # major currency units per kWh
    confidence: float | None = None  # 1 actual, below 1 forecast

    @property
    def is_forecast(self) -> bool:
        """Return whether the value is Flatpeak's forecast (confidence below 1)."""
        return self.confidence is not None and self.confidence < 1

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self | None:
        """Return the slot in ``data``, or ``None`` if it has no start, end or value."""
        times = _slot_times(data)
        price = mapping(data, "price")
        value = optional_number(price, "value")
        if times is None or value is None:
            return None
        return cls(
            start=times[0],
            end=times[1],
            value=value,
            confidence=optional_number(price, "confidence"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleSlot(PriceSlot):
    """A slot a schedule picked; ``vpp_event`` as Flatpeak flags it (undocumented)."""

    vpp_event: bool | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Self | None:
        """Return the slot in ``data``, or ``None`` if it has no start, end or value."""
        slot = PriceSlot.parse(data)
        if slot is None:
            return None
        return cls(
            start=slot.start,
            end=slot.end,
            value=slot.value,
            confidence=slot.confidence,
            vpp_event=optional_bool(data, "vpp_event"),
        )


def _slots[T: PriceSlot](
    data: Mapping[str, Any], kind: type[T], what: str
) -> tuple[tuple[T, ...], int]:
    """Return the readable slots of ``data[]`` by start, and how many were not."""
    items = required_list(data, "data", what)
    slots = [
        slot
        for item in items
        if isinstance(item, Mapping) and (slot := kind.parse(item)) is not None
    ]
    return tuple(sorted(slots, key=lambda slot: slot.start)), len(items) - len(slots)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Priced:
    """What a price answer and a schedule answer share."""

    id: str | None = None
    location_id: str | None = None
    device_id: str | None = None
    tariff_direction: str | None = None  # IMPORT / EXPORT / LOCAL, or any string
    currency_code: str | None = None
    location_timezone: str | None = None
    live_mode: bool | None = None
    time_created: datetime | None = None
    skipped_slots: int = 0

    @property
    def unit(self) -> str | None:
        """Return the unit of every value, e.g. ``GBP/kWh`` (``None`` if unknown)."""
        return f"{self.currency_code}/kWh" if self.currency_code else None

    @staticmethod
    def _common(data: Mapping[str, Any]) -> dict[str, Any]:
        request = mapping(data, "request")
        return {
            "id": optional_str(data, "id"),
            "location_id": optional_str(data, "location_id"),
            "device_id": optional_str(data, "device_id"),
            "tariff_direction": optional_str(data, "tariff_direction")
            or optional_str(request, "tariff_direction"),
            "currency_code": optional_str(data, "currency_code"),
            "location_timezone": optional_str(data, "location_timezone"),
            "live_mode": optional_bool(data, "live_mode"),
            "time_created": optional_time(data, "time_created"),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceSeries(_Priced):
    """The prices of a location (and device) over a window, slots by start."""

    slots: tuple[PriceSlot, ...] = ()
    last_updated: datetime | None = None  # when the rates last changed
    next_update: datetime | None = None  # when they may change next (older shape)

    def slot_at(self, moment: datetime) -> PriceSlot | None:
        """Return the slot that holds ``moment`` (an aware datetime), if any."""
        return next((s for s in self.slots if s.start <= moment < s.end), None)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse a price answer; raise ``TypeError`` if it has no ``data`` array."""
        slots, skipped = _slots(data, PriceSlot, "price")
        return cls(
            **cls._common(data),
            slots=slots,
            skipped_slots=skipped,
            last_updated=optional_time(data, "last_updated"),
            next_update=optional_time(data, "next_update"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule(_Priced):
    """The slots a schedule picked, by start (several windows are possible)."""

    slots: tuple[ScheduleSlot, ...] = ()

    @property
    def minutes(self) -> float:
        """Return how many minutes the slots cover together."""
        return sum((s.end - s.start).total_seconds() for s in self.slots) / 60

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse a schedule answer; raise ``TypeError`` if it has no ``data`` array."""
        slots, skipped = _slots(data, ScheduleSlot, "schedule")
        return cls(**cls._common(data), slots=slots, skipped_slots=skipped)
