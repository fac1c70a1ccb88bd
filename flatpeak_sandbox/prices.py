"""The sandbox's price curve, and the cheapest/dearest slots a schedule picks.

A deterministic tariff in GBP per kWh (major units) on a half-hour grid: a
daily shape in Europe/London time (night, day, the 16:00-19:00 peak, evening)
that moves by half a penny from one day of the week to the next. Slots that
start less than 24 hours after "now" (the past included) are actual prices,
confidence 1; later ones are forecasts, confidence 0.8, losing 0.2 every 30
days down to 0.2 (after Flatpeak's guide on forecasts). Neighbouring slots of
the same value and confidence are merged, so slots are of variable length as
Flatpeak's are. An ``Override`` replaces the curve's value over a period of
its own (a test's "cheap minute"): the grid is cut at its ends.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

from .schema import parse_time

TIMEZONE = "Europe/London"
CURRENCY = "GBP"
SLOT = timedelta(minutes=30)
ACTUAL_HORIZON = timedelta(hours=24)
# (from local hour, GBP/kWh) for each direction.
SHAPES: dict[str, tuple[tuple[int, float], ...]] = {
    "IMPORT": ((0, 0.12), (5, 0.24), (16, 0.38), (19, 0.22)),
    "EXPORT": ((0, 0.05), (5, 0.12), (16, 0.25), (19, 0.10)),
    "LOCAL": ((0, 0.08), (5, 0.16), (16, 0.30), (19, 0.15)),
}
_ZONE = ZoneInfo(TIMEZONE)


@dataclass(frozen=True, slots=True)
class Piece:
    """A price over ``[start, end)``."""

    start: datetime
    end: datetime
    value: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Override:
    """A value that replaces the curve's over ``[start, end)`` for ``direction``."""

    start: datetime
    end: datetime
    value: float
    direction: str = "IMPORT"

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Override:
        """Read a control's ``{start, end, value, direction}``; raise ``ValueError``."""
        start, end = parse_time(str(data["start"])), parse_time(str(data["end"]))
        direction = str(data.get("direction", "IMPORT")).upper()
        if start.tzinfo is None or end.tzinfo is None or not start < end:
            raise ValueError("an override needs aware times, start before end")
        if direction not in SHAPES:
            raise ValueError(f"unknown direction {direction!r}")
        return cls(start, end, round(float(data["value"]), 5), direction)


def rate(moment: datetime, direction: str) -> float:
    """Return the price at ``moment`` for ``direction``, GBP/kWh."""
    local = moment.astimezone(_ZONE)
    value = next(v for hour, v in reversed(SHAPES[direction]) if local.hour >= hour)
    return round(value + (local.toordinal() % 7) * 0.005, 5)


def confidence(start: datetime, now: datetime) -> float:
    """Return 1 for an actual price, less for a forecast further ahead."""
    ahead = start - (now + ACTUAL_HORIZON)
    if ahead < timedelta(0):
        return 1.0
    return round(max(0.2, 0.8 - 0.2 * (ahead // timedelta(days=30))), 1)


def half_hours(
    start: datetime, end: datetime, direction: str, now: datetime
) -> list[Piece]:
    """Return the half-hour grid over ``[start, end)``, the ends clipped."""
    utc = start.astimezone(UTC)
    grid = utc.replace(minute=utc.minute // 30 * 30, second=0, microsecond=0)
    pieces: list[Piece] = []
    while grid < end:
        piece_start, piece_end = max(grid, start), min(grid + SLOT, end)
        pieces.append(
            Piece(
                piece_start,
                piece_end,
                rate(grid, direction),
                confidence(grid, now),
            )
        )
        grid += SLOT
    return pieces


def overlaid(
    pieces: list[Piece], overrides: list[Override], direction: str
) -> list[Piece]:
    """Return ``pieces`` cut at the overrides' ends, their values replaced (last wins)."""
    mine = [o for o in overrides if o.direction == direction]
    result: list[Piece] = []
    for piece in pieces:
        cuts = sorted(
            {piece.start, piece.end}
            | {t for o in mine for t in (o.start, o.end) if piece.start < t < piece.end}
        )
        for start, end in pairwise(cuts):
            value = next(
                (o.value for o in reversed(mine) if o.start <= start < o.end),
                piece.value,
            )
            result.append(Piece(start, end, value, piece.confidence))
    return result


def merged(pieces: list[Piece]) -> list[Piece]:
    """Join neighbours of the same value and confidence."""
    result: list[Piece] = []
    for piece in pieces:
        last = result[-1] if result else None
        if (
            last is not None
            and last.end == piece.start
            and (last.value, last.confidence) == (piece.value, piece.confidence)
        ):
            result[-1] = replace(last, end=piece.end)
        else:
            result.append(piece)
    return result


def pick(pieces: list[Piece], minutes: int, segment: str) -> list[Piece]:
    """Return ``minutes`` of the cheapest (LOW) or dearest (HIGH) pieces, by time.

    Ties go to the earlier piece; the last piece picked is cut short if only
    part of it is needed.
    """
    sign = 1 if segment == "LOW" else -1
    wanted = timedelta(minutes=minutes)
    chosen: list[Piece] = []
    for piece in sorted(pieces, key=lambda p: (sign * p.value, p.start)):
        if wanted <= timedelta(0):
            break
        piece = replace(piece, end=min(piece.end, piece.start + wanted))
        chosen.append(piece)
        wanted -= piece.end - piece.start
    return merged(sorted(chosen, key=lambda p: p.start))


def formatter(end_time: str) -> Callable[[datetime], str]:
    """Format times as the request did: UTC with ``Z``, or ``end_time``'s offset."""
    if end_time.upper().endswith("Z"):
        return lambda moment: moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    zone = parse_time(end_time).tzinfo
    return lambda moment: moment.astimezone(zone).isoformat(timespec="seconds")


def as_json(
    pieces: list[Piece], fmt: Callable[[datetime], str], keys: tuple[str, str]
) -> list[dict[str, Any]]:
    """Return the pieces as the API's slots, with ``keys`` for start and end."""
    return [
        {
            keys[0]: fmt(piece.start),
            keys[1]: fmt(piece.end),
            "price": {"value": piece.value, "confidence": piece.confidence},
        }
        for piece in pieces
    ]
