"""What Flatpeak holds about a device: its last state, its location, its VPP programmes.

Every model is tolerant: only its identity is required (``id``, or the state's
``time``); any other field may be missing (``None``, or an empty tuple), and
enumerations stay plain strings, so a value Flatpeak adds later is kept rather
than refused. ``KNOWN_VPP_STATES`` lists the values the pages document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Self

from .fields import (
    mapping,
    objects,
    optional_bool,
    optional_number,
    optional_str,
    optional_time,
    parse_time,
    required_str,
    strings,
)

CONNECTED = "CONNECTED"
IN_PROGRESS = "IN_PROGRESS"
# ``current_state`` values the busbar pages list (retrieve/list, then the
# create/update pages' own): for an ENUM sensor's options. Others may come.
KNOWN_VPP_STATES: tuple[str, ...] = (
    "ENROLMENT_REQUESTED",
    "AWAITING_CONSENT",
    "AWAITING_TELEMETRY",
    "AWAITING_METER_ACCESS",
    "CONFIRMING_DISPATCH",
    "AWAITING_ELIGIBILITY",
    "AWAITING_REGISTRATION",
    "REGISTERED",
    "INELIGIBLE",
    "ACTIVE",
    "SUSPENDED",
    "UNENROLMENT_REQUESTED",
    "WINDING_DOWN",
    "UNENROLLED",
    "OFFBOARDED",
    "FAILED",
    "AWAITING_CUSTOMER_CONSENT",
    "AWAITING_DEVICE_TELEMETRY",
    "AWAITING_LOCATION_TELEMETRY",
    "CHECKING_ELIGIBILITY",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceStateReading:
    """The latest device state Flatpeak holds (``GET /devices/{device_id}/state``).

    ``battery_power_kw`` is **signed** as this read's page defines it:
    positive = charging, negative = discharging (the PUT takes a magnitude
    and ``energy_flow_direction`` instead).
    """

    device_id: str
    time: datetime
    id: str | None = None
    location_id: str | None = None
    account_id: str | None = None
    record_reference_id: str | None = None
    state_of_charge_percent: float | None = None
    target_state_of_charge_percent: float | None = None
    battery_power_kw: float | None = None
    energy_remaining_kwh: float | None = None
    backup_reserve_percent: float | None = None
    time_created: datetime | None = None

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, device_id: str) -> Self:
        """Parse the answer for ``device_id``; only ``time`` is required."""
        return cls(
            device_id=optional_str(data, "device_id") or device_id,
            time=parse_time(data.get("time")),
            id=optional_str(data, "id"),
            location_id=optional_str(data, "location_id"),
            account_id=optional_str(data, "account_id"),
            record_reference_id=optional_str(data, "record_reference_id"),
            time_created=optional_time(data, "time_created"),
            state_of_charge_percent=optional_number(data, "state_of_charge_percent"),
            target_state_of_charge_percent=optional_number(
                data, "target_state_of_charge_percent"
            ),
            battery_power_kw=optional_number(data, "battery_power_kw"),
            energy_remaining_kwh=optional_number(data, "energy_remaining_kwh"),
            backup_reserve_percent=optional_number(data, "backup_reserve_percent"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class TariffLink:
    """A tariff linked to a location, from any of the documented shapes.

    Busbar's retrieve page has ``tariff_elements[]`` objects, its list page
    ``tariffs[]`` objects, older versions ``tariff_elements`` as bare IDs
    (then only ``tariff_id`` is known).
    """

    tariff_id: str | None = None
    direction: str | None = None  # IMPORT / EXPORT / LOCAL, or any string
    status: str | None = None  # CONNECTED, or any string
    type: str | None = None  # COMMODITY, or any string
    display_name: str | None = None
    provider_id: str | None = None
    provider_name: str | None = None
    temporary: bool | None = None
    devices: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | str) -> Self:
        """Parse one link (an object, or a bare tariff ID)."""
        if isinstance(data, str):
            return cls(tariff_id=data or None)
        provider = mapping(data, "provider")
        temporary = optional_bool(data, "temporary")
        return cls(
            tariff_id=optional_str(data, "tariff_id"),
            direction=optional_str(data, "direction"),
            status=optional_str(data, "status"),
            type=optional_str(data, "type"),
            display_name=optional_str(data, "display_name"),
            provider_id=optional_str(data, "provider_id")
            or optional_str(provider, "id"),
            provider_name=optional_str(provider, "display_name"),
            temporary=(
                temporary
                if temporary is not None
                else optional_bool(data, "is_temporary")
            ),
            devices=strings(data, "devices"),
        )


def _tariff_links(data: Mapping[str, Any]) -> tuple[TariffLink, ...]:
    """Return the links of ``tariff_elements[]`` (objects or IDs) and ``tariffs[]``."""
    items = [
        item
        for key in ("tariff_elements", "tariffs")
        for item in (data[key] if isinstance(data.get(key), list) else ())
    ]
    return tuple(
        TariffLink.from_json(item)
        for item in items
        if isinstance(item, Mapping | str) and item
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Location:
    """A Flatpeak location (``GET /locations/{id}``): where prices apply."""

    id: str
    timezone: str | None = None  # IANA, e.g. Europe/London
    currency_code: str | None = None  # ISO 4217, e.g. GBP
    reference_id: str | None = None
    customer_id: str | None = None
    live_mode: bool | None = None
    devices: tuple[str, ...] = ()
    tariffs: tuple[TariffLink, ...] = ()
    # Older shape: {"commodity_import": "CONNECTED", "commodity_export": ...}.
    tariff_status: Mapping[str, str] = field(default_factory=dict)

    def tariff_connected(self, direction: str) -> bool | None:
        """Return whether a tariff for ``direction`` is connected here.

        ``None`` when the location says nothing about tariffs with a
        direction: ask ``POST /prices`` to know.
        """
        directed = [link for link in self.tariffs if link.direction is not None]
        matching = [link for link in directed if link.direction == direction]
        if matching:
            return any(link.status == CONNECTED for link in matching)
        status = self.tariff_status.get(f"commodity_{direction.lower()}")
        if status is not None:
            return status == CONNECTED
        return False if directed else None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse a location; only ``id`` is required."""
        status = mapping(data, "tariff_status")
        return cls(
            id=required_str(data, "id", "location"),
            timezone=optional_str(data, "timezone"),
            currency_code=optional_str(data, "currency_code"),
            reference_id=optional_str(data, "reference_id"),
            customer_id=optional_str(data, "customer_id"),
            live_mode=optional_bool(data, "live_mode"),
            devices=strings(data, "devices"),
            tariffs=_tariff_links(data),
            tariff_status={k: v for k, v in status.items() if isinstance(v, str)},
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VppStateEntry:
    """One entry of a participation's timeline (``participation_state[]``)."""

    state: str | None = None
    status: str | None = None  # COMPLETE (past), IN_PROGRESS (now), PENDING (expected)
    description: str | None = None  # text for the customer
    occurred_at: datetime | None = None
    expected_at: datetime | None = None
    suspension_reasons: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse one timeline entry; every field is optional."""
        return cls(
            state=optional_str(data, "state"),
            status=optional_str(data, "status"),
            description=optional_str(data, "description"),
            occurred_at=optional_time(data, "occurred_at"),
            expected_at=optional_time(data, "expected_at"),
            suspension_reasons=strings(data, "suspension_reasons"),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class VppParticipation:
    """A device's participation in a VPP programme (``/vpp-participations``).

    ``current_state`` is the API's field, or else the state of the timeline's
    ``IN_PROGRESS`` entry (the pages describe the field; their examples lack
    it). ``control_active`` means dispatchable, not "dispatching now".
    """

    id: str
    device_id: str | None = None
    location_id: str | None = None
    reference_id: str | None = None
    live_mode: bool | None = None
    current_state: str | None = None
    control_active: bool | None = None
    telemetry_active: bool | None = None  # false after 24 h without telemetry
    suspension_reasons: tuple[str, ...] = ()
    timeline: tuple[VppStateEntry, ...] = ()  # in the API's order
    provider_id: str | None = None
    provider_name: str | None = None
    provider_logo_url: str | None = None
    programme_id: str | None = None
    programme_name: str | None = None
    programme_learn_more_url: str | None = None
    time_created: datetime | None = None
    time_updated: datetime | None = None

    @property
    def current_entry(self) -> VppStateEntry | None:
        """Return the timeline's ``IN_PROGRESS`` entry, if any."""
        return next((e for e in self.timeline if e.status == IN_PROGRESS), None)

    @property
    def description(self) -> str | None:
        """Return Flatpeak's text for the customer about the current state."""
        entry = self.current_entry
        return entry.description if entry is not None else None

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Self:
        """Parse a participation; only ``id`` is required."""
        timeline = tuple(
            VppStateEntry.from_json(item)
            for item in objects(data, "participation_state")
        )
        current = next((e for e in timeline if e.status == IN_PROGRESS), None)
        provider = mapping(data, "provider")
        programme = mapping(data, "programme")
        return cls(
            id=required_str(data, "id", "VPP participation"),
            device_id=optional_str(data, "device_id"),
            location_id=optional_str(data, "location_id"),
            reference_id=optional_str(data, "reference_id"),
            live_mode=optional_bool(data, "live_mode"),
            current_state=optional_str(data, "current_state")
            or (current.state if current else None),
            control_active=optional_bool(data, "control_active"),
            telemetry_active=optional_bool(data, "telemetry_active"),
            suspension_reasons=strings(data, "suspension_reasons")
            or (current.suspension_reasons if current else ()),
            timeline=timeline,
            provider_id=optional_str(provider, "id"),
            provider_name=optional_str(provider, "provider_display_name")
            or optional_str(provider, "display_name"),
            provider_logo_url=optional_str(provider, "logo_url"),
            programme_id=optional_str(programme, "id"),
            programme_name=optional_str(programme, "programme_display_name")
            or optional_str(programme, "display_name"),
            programme_learn_more_url=optional_str(programme, "learn_more_url"),
            time_created=optional_time(data, "time_created"),
            time_updated=optional_time(data, "time_updated"),
        )
