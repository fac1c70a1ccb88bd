"""Reading fields out of the API's JSON objects, tolerantly.

Flatpeak's pages show several shapes of the same object, and fields marked
optional may be missing or ``null``. These readers return ``None`` (or an
empty tuple) for a missing field or one of the wrong type, so one odd field
never costs a whole answer; ``required_*`` raise ``TypeError`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
import math
from typing import Any


def parse_time(value: Any) -> datetime:
    """Parse an RFC 3339 timestamp into an aware datetime."""
    if not isinstance(value, str):
        raise TypeError(f"expected an RFC 3339 string, got {type(value).__name__}")
    parsed = datetime.fromisoformat(value.replace("z", "Z"))
    if parsed.tzinfo is None:
        raise ValueError("timestamp has no UTC offset")
    return parsed


def optional_str(data: Mapping[str, Any], key: str) -> str | None:
    """Return a non-empty string field, else ``None``."""
    value = data.get(key)
    return value if isinstance(value, str) and value else None


def optional_bool(data: Mapping[str, Any], key: str) -> bool | None:
    """Return a boolean field, else ``None``."""
    value = data.get(key)
    return value if isinstance(value, bool) else None


def optional_number(data: Mapping[str, Any], key: str) -> float | None:
    """Return a finite number field as a float, else ``None``."""
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def optional_time(data: Mapping[str, Any], key: str) -> datetime | None:
    """Return an RFC 3339 field as an aware datetime, else ``None``."""
    try:
        return parse_time(data.get(key))
    except (TypeError, ValueError):
        return None


def mapping(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """Return an object field, or an empty mapping."""
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def objects(data: Mapping[str, Any], key: str) -> tuple[Mapping[str, Any], ...]:
    """Return the objects in an array field, in order (anything else skipped)."""
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, Mapping))


def strings(data: Mapping[str, Any], key: str) -> tuple[str, ...]:
    """Return the non-empty strings in an array field, in order."""
    value = data.get(key)
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str) and item)


def required_str(data: Mapping[str, Any], key: str, what: str) -> str:
    """Return a non-empty string field; raise ``TypeError`` naming ``what``."""
    value = optional_str(data, key)
    if value is None:
        raise TypeError(f"{what} has no {key}")
    return value


def required_list(data: Mapping[str, Any], key: str, what: str) -> list[Any]:
    """Return an array field; raise ``TypeError`` naming ``what``."""
    value = data.get(key)
    if not isinstance(value, list):
        raise TypeError(f"{what} has no {key} array")
    return value
