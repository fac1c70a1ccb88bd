"""From the mapped Home Assistant entities to a Flatpeak device state."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
import hashlib
import json
from typing import Any, Self

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from ..api import DeviceState, EnergyFlowDirection
from ..api.models import NUMBER_FIELDS, number_problem
from ..const import (
    CONF_POWER_SIGN,
    CONF_RESERVE_ENTITY,
    CONF_RESERVE_PERCENT,
    CONF_TARGET_SOC_ENTITY,
    CONF_TARGET_SOC_PERCENT,
    LOGGER,
    PowerSign,
    SubmissionStatus,
)
from .batteries import (
    CONF_ESTIMATE_ENERGY,
    CONF_MAPPING_SOURCE,
    Battery,
    MappingSource,
    batteries_from_options,
    summed_energy_kwh,
    summed_power_kw,
    weighted_soc,
)
from .readings import (
    SnapshotError,
    read_energy,
    read_optional,
    read_percent,
    read_power_kw,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class BatteryMapping:
    """Which entities (or fixed values) feed which Flatpeak field."""

    soc_entity: str
    target_soc_entity: str | None = None
    target_soc_percent: float | None = None
    power_entity: str | None = None
    power_sign: PowerSign = PowerSign.POSITIVE_DISCHARGING
    energy_entity: str | None = None
    reserve_entity: str | None = None
    reserve_percent: float | None = None
    capacity_kwh: float | None = None
    more_batteries: tuple[Battery, ...] = ()
    estimate_energy: bool = False
    source: MappingSource = MappingSource.ENTITIES

    @classmethod
    def from_options(cls, options: Mapping[str, Any]) -> Self:
        """Read the mapping from a config entry's options."""
        first, *more = batteries_from_options(options)
        return cls(
            soc_entity=first.soc_entity,
            target_soc_entity=options.get(CONF_TARGET_SOC_ENTITY),
            target_soc_percent=options.get(CONF_TARGET_SOC_PERCENT),
            power_entity=first.power_entity,
            power_sign=PowerSign(
                options.get(CONF_POWER_SIGN, PowerSign.POSITIVE_DISCHARGING)
            ),
            energy_entity=first.energy_entity,
            reserve_entity=options.get(CONF_RESERVE_ENTITY),
            reserve_percent=options.get(CONF_RESERVE_PERCENT),
            capacity_kwh=first.capacity_kwh,
            more_batteries=tuple(more),
            estimate_energy=bool(options.get(CONF_ESTIMATE_ENERGY, False)),
            source=MappingSource(
                options.get(CONF_MAPPING_SOURCE, MappingSource.ENTITIES)
            ),
        )

    @property
    def batteries(self) -> tuple[Battery, ...]:
        """Return every mapped battery, the first one included."""
        first = Battery(
            soc_entity=self.soc_entity,
            power_entity=self.power_entity,
            energy_entity=self.energy_entity,
            capacity_kwh=self.capacity_kwh,
        )
        return (first, *self.more_batteries)

    @property
    def entity_ids(self) -> list[str]:
        """Return every mapped entity, without duplicates."""
        ids = (
            *(i for battery in self.batteries for i in battery.entity_ids),
            self.target_soc_entity,
            self.reserve_entity,
        )
        return list(dict.fromkeys(i for i in ids if i))


def flow_direction(kw: float, sign: PowerSign) -> EnergyFlowDirection | None:
    """Return the direction of a signed power (none at zero)."""
    if kw == 0:
        return None
    discharging = (kw > 0) == (sign is PowerSign.POSITIVE_DISCHARGING)
    return EnergyFlowDirection.EXPORT if discharging else EnergyFlowDirection.IMPORT


REQUIRED_FIELDS = ("state_of_charge_percent", "target_state_of_charge_percent")


def build_device_state(
    hass: HomeAssistant,
    mapping: BatteryMapping,
    when: datetime,
    overrides: Mapping[str, Any] | None = None,
) -> DeviceState:
    """Take a snapshot of the mapped entities (``overrides`` win over them).

    Raise ``SnapshotError`` when a required value cannot be read, and nothing
    else: whatever a state holds, the snapshot is taken or a ``SnapshotError``
    says why not. An optional value the API would refuse (a sum that
    overflows) is left out. ``when`` is clamped to now: a state stamped in the
    future is sent as taken now.
    """
    try:
        values = _values(hass, mapping, when, overrides)
        _check_numbers(values, mapping)
        return DeviceState(**values)
    except SnapshotError:
        raise
    except (ArithmeticError, TypeError, ValueError) as err:
        # A bug, not a state: keep the trace, and the snapshot path alive.
        LOGGER.warning("Snapshot not taken: %s", err, exc_info=True)
        raise SnapshotError(
            SubmissionStatus.INVALID_DATA,
            "snapshot_failed",
            entity_id=", ".join(mapping.entity_ids),
            reason=str(err)[:100],
        ) from err


def _values(
    hass: HomeAssistant,
    mapping: BatteryMapping,
    when: datetime,
    overrides: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """Return the snapshot's fields; a field that is None is left out."""
    values: dict[str, Any] = dict(overrides or {})
    values["time"] = min(values.get("time", when), dt_util.utcnow())

    batteries = mapping.batteries
    if "state_of_charge_percent" not in values:
        read = [read_percent(hass, battery.soc_entity) for battery in batteries]
        values["state_of_charge_percent"] = weighted_soc(batteries, read)
        socs: list[float | None] = list(read)
    else:
        socs = [read_optional(read_percent, hass, b.soc_entity) for b in batteries]
    if "target_state_of_charge_percent" not in values:
        values["target_state_of_charge_percent"] = (
            read_percent(hass, mapping.target_soc_entity)
            if mapping.target_soc_entity
            else mapping.target_soc_percent
        )
    if "backup_reserve_percent" not in values:
        values["backup_reserve_percent"] = (
            read_optional(read_percent, hass, mapping.reserve_entity)
            if mapping.reserve_entity
            else mapping.reserve_percent
        )
    if "energy_remaining_kwh" not in values:
        values["energy_remaining_kwh"] = summed_energy_kwh(
            batteries,
            socs,
            lambda entity_id: read_optional(read_energy, hass, entity_id),
            estimate=mapping.estimate_energy,
        )
    if "battery_power_kw" not in values:
        kw = summed_power_kw(
            batteries, lambda entity_id: read_optional(read_power_kw, hass, entity_id)
        )
        if kw is not None:
            values["battery_power_kw"] = abs(kw)
            values.setdefault(
                "energy_flow_direction", flow_direction(kw, mapping.power_sign)
            )
    return {k: v for k, v in values.items() if v is not None}


def _check_numbers(values: dict[str, Any], mapping: BatteryMapping) -> None:
    """Leave out an optional number the API would refuse; refuse a required one.

    A zero is sent as ``0``, never ``-0.0``; a power left out takes its
    direction with it.
    """
    for name in NUMBER_FIELDS:
        if (value := values.get(name)) is None:
            continue
        if number_problem(name, value) is None:
            values[name] = value + 0  # -0.0 + 0 is 0.0
        elif name in REQUIRED_FIELDS:
            raise SnapshotError(
                SubmissionStatus.INVALID_DATA,
                "out_of_range",
                entity_id=", ".join(_sources(mapping, name)),
                value=f"{value:g}",
            )
        else:
            del values[name]
            if name == "battery_power_kw":
                values.pop("energy_flow_direction", None)


def _sources(mapping: BatteryMapping, name: str) -> list[str]:
    """Return the entities a required field is read from (its name: a fixed value)."""
    if name == "state_of_charge_percent":
        return [battery.soc_entity for battery in mapping.batteries]
    return [mapping.target_soc_entity or name]


def with_reference_id(device_id: str, state: DeviceState) -> DeviceState:
    """Give the snapshot a ``record_reference_id`` derived from its content.

    The same snapshot always gets the same id, so a retry can never create a
    second record at Flatpeak.
    """
    body = state.to_json()
    body.pop("record_reference_id", None)
    digest = hashlib.sha256(
        json.dumps([device_id, body], sort_keys=True).encode()
    ).hexdigest()
    return replace(state, record_reference_id=f"ha_{digest[:32]}")
