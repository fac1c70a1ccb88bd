"""Strict validation of request bodies against Flatpeak's schemas.

``DEVICE_STATE_SUBMIT_SCHEMA`` is ``DeviceStateSubmit`` from the Flatpeak API
spec (``PUT /devices/{device_id}/state``, version 2026-08-01.busbar), with the
0-100 range its descriptions give the percentages written as bounds. The read
bodies (``POST /prices``, ``POST /prices/{id}``, ``POST /schedules/duration``)
are written from the busbar pages' field tables; a field those pages do not
list is refused, as the PUT's ``additionalProperties: false`` does.
"""

from __future__ import annotations

from datetime import datetime, timedelta
import math
import re
from typing import Any

DEVICE_STATE_SUBMIT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "record_reference_id": {"type": "string"},
        "time": {"type": "string", "format": "date-time"},
        "state_of_charge_percent": {"type": "number", "minimum": 0, "maximum": 100},
        "target_state_of_charge_percent": {
            "type": "number",
            "minimum": 0,
            "maximum": 100,
        },
        "energy_flow_direction": {"type": "string", "enum": ["IMPORT", "EXPORT"]},
        "battery_power_kw": {"type": "number"},
        "energy_remaining_kwh": {"type": "number"},
        "backup_reserve_percent": {"type": "number", "minimum": 0, "maximum": 100},
    },
    "required": ["time", "state_of_charge_percent", "target_state_of_charge_percent"],
    "additionalProperties": False,
}

DIRECTIONS = ["IMPORT", "EXPORT", "LOCAL"]
_ID = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_DIRECTION = {"type": "string", "enum": DIRECTIONS}

# POST /prices/{location_id} (the older variant): the location is in the path.
PRICES_PATH_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "start_time": _TIME,
        "end_time": _TIME,
        "tariff_direction": _DIRECTION,
    },
    "required": ["end_time"],
    "additionalProperties": False,
}
# POST /prices: the location (and optionally the device) in the body.
PRICES_SCHEMA: dict[str, Any] = {
    **PRICES_PATH_SCHEMA,
    "properties": {
        "location_id": _ID,
        "device_id": _ID,
        **PRICES_PATH_SCHEMA["properties"],
    },
    "required": ["location_id", "end_time"],
}
# POST /schedules/duration ("duration" is required here: no default is documented).
SCHEDULE_DURATION_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "location_id": _ID,
        "device_id": _ID,
        "start_time": _TIME,
        "end_time": _TIME,
        "segment": {"type": "string", "enum": ["LOW", "HIGH"]},
        "duration": {"type": "integer", "minimum": 1, "maximum": 3 * 24 * 60},
        "tariff_direction": _DIRECTION,
    },
    "required": ["location_id", "start_time", "end_time", "segment", "duration"],
    "additionalProperties": False,
}

RFC3339 = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$", re.IGNORECASE
)


class SchemaError(Exception):
    """A body does not match the schema."""

    def __init__(self, status: int, code: str, message: str) -> None:
        """Record the HTTP status (400 malformed, 422 unprocessable) and code."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def _is_rfc3339(value: str) -> bool:
    if not RFC3339.match(value):
        return False
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def _check_type(name: str, spec: dict[str, Any], value: Any) -> None:
    kind = spec["type"]
    if kind == "number" and not _is_number(value):
        raise SchemaError(400, "invalid_type", f"'{name}' must be a number")
    if kind == "integer" and not (_is_number(value) and value == int(value)):
        raise SchemaError(400, "invalid_type", f"'{name}' must be an integer")
    if kind == "string" and not isinstance(value, str):
        raise SchemaError(400, "invalid_type", f"'{name}' must be a string")


def validate_device_state(body: Any) -> None:
    """Raise ``SchemaError`` unless ``body`` is a valid ``DeviceStateSubmit``."""
    validate_body(DEVICE_STATE_SUBMIT_SCHEMA, body)


def parse_time(value: str) -> datetime:
    """Return a date-time ``validate_body`` accepted as an aware datetime."""
    return datetime.fromisoformat(value.upper())


def validate_body(schema: dict[str, Any], body: Any) -> None:
    """Raise ``SchemaError`` unless ``body`` matches ``schema`` (an object schema)."""
    if not isinstance(body, dict):
        raise SchemaError(400, "invalid_body", "The request body must be a JSON object")
    properties: dict[str, dict[str, Any]] = schema["properties"]
    unknown = sorted(set(body) - set(properties))
    if unknown:
        raise SchemaError(
            400, "unknown_field", f"Unknown field(s): {', '.join(unknown)}"
        )
    for name in schema["required"]:
        if name not in body:
            raise SchemaError(400, "missing_field", f"'{name}' is required")
    for name, value in body.items():
        spec = properties[name]
        _check_type(name, spec, value)
        if "enum" in spec and value not in spec["enum"]:
            raise SchemaError(
                400,
                "invalid_enum",
                f"'{name}' must be one of {', '.join(spec['enum'])}",
            )
        if spec.get("format") == "date-time" and not _is_rfc3339(value):
            raise SchemaError(
                400, "invalid_time", f"'{name}' must be an RFC 3339 date-time"
            )
        if "minimum" in spec and not spec["minimum"] <= value <= spec["maximum"]:
            raise SchemaError(
                422,
                "out_of_range",
                f"'{name}' must be between {spec['minimum']} and {spec['maximum']}",
            )


def parse_window(
    body: dict[str, Any], longest: timedelta, *, default_start: datetime
) -> tuple[datetime, datetime]:
    """Return a validated body's ``[start_time, end_time)``, at most ``longest``.

    The status and codes of a refused window are the sandbox's choice: the
    pages give the limits (90 days for prices, 3 for schedules), not the error.
    """
    start = parse_time(body["start_time"]) if "start_time" in body else default_start
    end = parse_time(body["end_time"])
    if end <= start:
        raise SchemaError(
            422, "invalid_time_range", "'end_time' must be after 'start_time'"
        )
    if end - start > longest:
        raise SchemaError(
            422,
            "time_range_too_long",
            f"The window must not be longer than {longest.days} days",
        )
    return start, end
