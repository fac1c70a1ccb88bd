"""Value objects of the Flatpeak API."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
import math
from typing import Any, Self

from .fields import objects, optional_str, parse_time, strings

PERCENT_FIELDS = (
    "state_of_charge_percent",
    "target_state_of_charge_percent",
    "backup_reserve_percent",
)
NON_NEGATIVE_FIELDS = ("battery_power_kw", "energy_remaining_kwh")
NUMBER_FIELDS = PERCENT_FIELDS + NON_NEGATIVE_FIELDS


class EnergyFlowDirection(StrEnum):
    """Direction of the energy flow: from the grid (import) or to it (export)."""

    IMPORT = "IMPORT"
    EXPORT = "EXPORT"


def format_time(value: datetime) -> str:
    """Format an aware datetime as RFC 3339 in UTC with a ``Z`` suffix."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("time must be timezone-aware")
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond // 1000:03d}"
    return text + "Z"


def number_problem(name: str, value: Any) -> str | None:
    """Return why the API would refuse ``value`` for the number field ``name``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} must be a number"
    if not math.isfinite(value):
        return f"{name} must be finite"
    if name in PERCENT_FIELDS and not 0 <= value <= 100:
        return f"{name} must be between 0 and 100"
    if name in NON_NEGATIVE_FIELDS and value < 0:
        return f"{name} must not be negative"
    return None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceState:
    """The live state of a battery, as ``PUT /devices/{id}/state`` takes it.

    ``battery_power_kw`` is a magnitude; ``energy_flow_direction`` says which
    way the energy flows.
    """

    time: datetime
    state_of_charge_percent: float
    target_state_of_charge_percent: float
    energy_flow_direction: EnergyFlowDirection | None = None
    battery_power_kw: float | None = None
    energy_remaining_kwh: float | None = None
    backup_reserve_percent: float | None = None
    record_reference_id: str | None = None

    def __post_init__(self) -> None:
        """Refuse values the API would reject."""
        if self.time.tzinfo is None or self.time.utcoffset() is None:
            raise ValueError("time must be timezone-aware")
        for name in NUMBER_FIELDS:
            value = getattr(self, name)
            if value is not None and (problem := number_problem(name, value)):
                raise ValueError(problem)
        if self.energy_flow_direction is not None and not isinstance(
            self.energy_flow_direction, EnergyFlowDirection
        ):
            raise TypeError("energy_flow_direction must be an EnergyFlowDirection")
        if self.record_reference_id is not None and (
            not isinstance(self.record_reference_id, str)
            or not self.record_reference_id
        ):
            raise ValueError("record_reference_id must be a non-empty string")

    def to_json(self) -> dict[str, Any]:
        """Return exactly the JSON body the API expects (unset fields omitted)."""
        body: dict[str, Any] = {}
        if self.record_reference_id is not None:
            body["record_reference_id"] = self.record_reference_id
        body["time"] = format_time(self.time)
        body["state_of_charge_percent"] = self.state_of_charge_percent
        body["target_state_of_charge_percent"] = self.target_state_of_charge_percent
        if self.energy_flow_direction is not None:
            body["energy_flow_direction"] = self.energy_flow_direction.value
        for name in (
            "battery_power_kw",
            "energy_remaining_kwh",
            "backup_reserve_percent",
        ):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        return body

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Build a state from the API's JSON form (the inverse of ``to_json``)."""
        direction = data.get("energy_flow_direction")
        return cls(
            time=parse_time(data["time"]),
            state_of_charge_percent=data["state_of_charge_percent"],
            target_state_of_charge_percent=data["target_state_of_charge_percent"],
            energy_flow_direction=(
                EnergyFlowDirection(direction) if direction is not None else None
            ),
            battery_power_kw=data.get("battery_power_kw"),
            energy_remaining_kwh=data.get("energy_remaining_kwh"),
            backup_reserve_percent=data.get("backup_reserve_percent"),
            record_reference_id=data.get("record_reference_id"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStateRecord:
    """The record the API created for a submitted device state.

    A 2xx means Flatpeak has the record even when its body cannot be read:
    then ``id`` and ``account_id`` may be ``None`` (see ``from_partial_json``).
    """

    id: str | None
    device_id: str
    account_id: str | None
    time_created: datetime
    object: str = "device_state"

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse the API's response; raise ``TypeError`` when it is not one."""
        for key in ("id", "device_id", "account_id"):
            if not isinstance(data.get(key), str):
                raise TypeError(f"device state record has no {key}")
        obj = data.get("object", "device_state")
        return cls(
            id=data["id"],
            device_id=data["device_id"],
            account_id=data["account_id"],
            time_created=parse_time(data.get("time_created")),
            object=obj if isinstance(obj, str) else "device_state",
        )

    @classmethod
    def from_partial_json(cls, data: Any, *, device_id: str, now: datetime) -> Self:
        """Keep whatever ``data`` holds; ``device_id`` and ``now`` fill the gaps."""
        fields = data if isinstance(data, Mapping) else {}
        try:
            time_created = parse_time(fields.get("time_created"))
        except (TypeError, ValueError):
            time_created = now
        return cls(
            id=optional_str(fields, "id"),
            device_id=optional_str(fields, "device_id") or device_id,
            account_id=optional_str(fields, "account_id"),
            time_created=time_created,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Device:
    """A Flatpeak device (only the fields the integration uses).

    ``locations`` are the IDs of the locations the device may be at, in the
    API's order (busbar's ``locations``; for the shape that has ``tariffs[]``
    instead, the distinct ``tariffs[].location_id``).
    """

    id: str
    reference_id: str | None = None
    type: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    live_mode: bool | None = None
    locations: tuple[str, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def model_name(self) -> str | None:
        """Return manufacturer and model, e.g. "Acme PowerWall 10", if known."""
        return " ".join(filter(None, (self.manufacturer, self.model))) or None

    @property
    def title(self) -> str:
        """Return the device's name: manufacturer and model, else its reference, else its ID."""
        return self.model_name or self.reference_id or self.id

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse a device; only ``id`` is required, the rest is tolerated."""
        if not isinstance(data.get("id"), str):
            raise TypeError("device has no id")
        model = optional_str(data, "model") or optional_str(data, "model_name")
        live_mode = data.get("live_mode")
        return cls(
            id=data["id"],
            reference_id=optional_str(data, "reference_id"),
            type=optional_str(data, "type"),
            manufacturer=optional_str(data, "manufacturer"),
            model=model,
            live_mode=live_mode if isinstance(live_mode, bool) else None,
            locations=strings(data, "locations") or _tariff_locations(data),
            raw=dict(data),
        )


def _tariff_locations(data: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the distinct locations of a device's ``tariffs[]``, in order."""
    found = (optional_str(tariff, "location_id") for tariff in objects(data, "tariffs"))
    return tuple(dict.fromkeys(location for location in found if location))


@dataclass(frozen=True, slots=True)
class Token:
    """A bearer token and when it stops being valid (monotonic seconds)."""

    value: str = field(repr=False)
    expires_at: float
