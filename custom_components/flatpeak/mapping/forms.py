"""The battery mapping's forms for each source, and their input as options."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.selector import (
    BooleanSelector,
    DeviceSelector,
    DeviceSelectorConfig,
    EntityFilterSelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
)
import voluptuous as vol

from ..const import (
    CONF_ENERGY_ENTITY,
    CONF_POWER_ENTITY,
    CONF_POWER_SIGN,
    CONF_RESERVE_ENTITY,
    CONF_RESERVE_PERCENT,
    CONF_SOC_ENTITY,
    CONF_TARGET_SOC_ENTITY,
    CONF_TARGET_SOC_PERCENT,
    PowerSign,
)
from ..flows.schemas import MAPPING_SCHEMA
from .batteries import (
    BATTERY_FIELDS,
    CONF_CAPACITY,
    CONF_ESTIMATE_ENERGY,
    CONF_MAPPING_SOURCE,
    MAX_BATTERIES,
    Battery,
    MappingSource,
    base_field,
    batteries_to_options,
    battery_key,
)

CONF_ADD_BATTERY: Final = "add_battery"
CONF_ENERGY_BATTERIES: Final = "energy_batteries"
CONF_BATTERY_DEVICES: Final = "battery_devices"
# The menu's step for each source.
SOURCE_STEPS: Final = {
    MappingSource.ENERGY_DASHBOARD: "battery_energy",
    MappingSource.DEVICE: "battery_device",
    MappingSource.ENTITIES: "battery",
}
SHARED_FIELDS: Final = (
    CONF_TARGET_SOC_ENTITY,
    CONF_TARGET_SOC_PERCENT,
    CONF_RESERVE_ENTITY,
    CONF_RESERVE_PERCENT,
)
CAPACITY_SELECTOR = NumberSelector(
    NumberSelectorConfig(
        min=0.1,
        max=1000,
        step=0.1,
        unit_of_measurement="kWh",
        mode=NumberSelectorMode.BOX,
    )
)
DEVICE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_BATTERY_DEVICES): DeviceSelector(
            DeviceSelectorConfig(
                multiple=True,
                entity=EntityFilterSelectorConfig(
                    domain="sensor", device_class=SensorDeviceClass.BATTERY
                ),
            )
        )
    }
)


def is_mapping_key(key: str) -> bool:
    """Return whether an option key belongs to the battery mapping."""
    return (
        key in MAPPING_SCHEMA.schema
        or base_field(key) in BATTERY_FIELDS
        or key in (CONF_ESTIMATE_ENERGY, CONF_MAPPING_SOURCE)
    )


# Today's single-battery form's fields by name: (marker, selector).
FORM_FIELDS: Final = {
    str(marker): (marker, selector)
    for marker, selector in MAPPING_SCHEMA.schema.items()
}


def entities_schema(count: int, *, estimate: bool = False) -> vol.Schema:
    """Return the entities form for ``count`` batteries.

    The first battery's fields are today's single-battery form; from two
    batteries on, each has its state of charge, power, energy remaining and
    capacity (a battery whose state of charge is left empty is removed).
    With ``estimate`` (a mapping that estimates the energy remaining from
    capacity x state of charge, as the Energy dashboard's does), the form
    keeps the capacity and the estimate, one battery too.
    """
    fields: dict[Any, Any] = {}
    for marker, selector in MAPPING_SCHEMA.schema.items():
        if marker == CONF_RESERVE_ENTITY and (count > 1 or estimate):
            fields[vol.Optional(CONF_CAPACITY)] = CAPACITY_SELECTOR
            for index in range(1, count):
                for field in (CONF_SOC_ENTITY, CONF_POWER_ENTITY, CONF_ENERGY_ENTITY):
                    fields[vol.Optional(battery_key(field, index))] = FORM_FIELDS[
                        field
                    ][1]
                fields[vol.Optional(battery_key(CONF_CAPACITY, index))] = (
                    CAPACITY_SELECTOR
                )
            if estimate:
                fields[vol.Optional(CONF_ESTIMATE_ENERGY, default=False)] = (
                    BooleanSelector()
                )
        fields[marker] = selector
    if count < MAX_BATTERIES:
        fields[vol.Optional(CONF_ADD_BATTERY, default=False)] = BooleanSelector()
    return vol.Schema(fields)


def battery_errors(values: Mapping[str, Any], count: int) -> dict[str, str]:
    """Return the error of a battery with values but no state of charge."""
    errors: dict[str, str] = {}
    for index in range(1, count):
        if battery_key(CONF_SOC_ENTITY, index) in values:
            continue
        if any(battery_key(f, index) in values for f in BATTERY_FIELDS):
            errors[battery_key(CONF_SOC_ENTITY, index)] = "state_of_charge_required"
    return errors


def compact_batteries(values: Mapping[str, Any], count: int) -> dict[str, Any]:
    """Return the form's values with the batteries left empty removed, renumbered."""
    options = {k: v for k, v in values.items() if base_field(k) not in BATTERY_FIELDS}
    batteries = [
        Battery(
            soc_entity=values[battery_key(CONF_SOC_ENTITY, index)],
            power_entity=values.get(battery_key(CONF_POWER_ENTITY, index)),
            energy_entity=values.get(battery_key(CONF_ENERGY_ENTITY, index)),
            capacity_kwh=values.get(battery_key(CONF_CAPACITY, index)),
        )
        for index in range(count)
        if battery_key(CONF_SOC_ENTITY, index) in values
    ]
    if len(batteries) == 1 and not values.get(CONF_ESTIMATE_ENERGY):
        # One battery: a capacity only weighs several states of charge (or
        # makes the estimate of the energy remaining).
        batteries = [
            Battery(
                soc_entity=batteries[0].soc_entity,
                power_entity=batteries[0].power_entity,
                energy_entity=batteries[0].energy_entity,
            )
        ]
    options.update(batteries_to_options(batteries))
    options.pop(CONF_ADD_BATTERY, None)
    return options


def energy_schema(
    hass: HomeAssistant, batteries: Sequence[Battery], chosen: Sequence[str]
) -> vol.Schema:
    """Return the Energy dashboard form: which of its batteries, target, reserve.

    The estimate of the energy remaining is offered when a battery has a
    capacity (the dashboard has no energy-remaining sensor).
    """
    options = [
        SelectOptionDict(value=b.soc_entity, label=battery_name(hass, b.soc_entity))
        for b in batteries
    ]
    fields: dict[Any, Any] = {
        vol.Required(CONF_ENERGY_BATTERIES, default=list(chosen)): SelectSelector(
            SelectSelectorConfig(
                options=options, multiple=True, mode=SelectSelectorMode.LIST
            )
        )
    }
    for key in SHARED_FIELDS:
        marker, selector = FORM_FIELDS[key]
        fields[marker] = selector
    if any(b.capacity_kwh for b in batteries):
        fields[vol.Optional(CONF_ESTIMATE_ENERGY, default=False)] = BooleanSelector()
    return vol.Schema(fields)


def energy_options(
    batteries: Sequence[Battery], user_input: Mapping[str, Any]
) -> dict[str, Any]:
    """Return the options of the dashboard's batteries the user chose."""
    chosen = set(user_input.get(CONF_ENERGY_BATTERIES, []))
    options = {k: v for k, v in user_input.items() if k in SHARED_FIELDS}
    options.update(
        batteries_to_options([b for b in batteries if b.soc_entity in chosen])
    )
    options[CONF_POWER_SIGN] = PowerSign.POSITIVE_DISCHARGING.value
    options[CONF_ESTIMATE_ENERGY] = bool(user_input.get(CONF_ESTIMATE_ENERGY, False))
    options[CONF_MAPPING_SOURCE] = MappingSource.ENERGY_DASHBOARD.value
    return options


def capacities_text(hass: HomeAssistant, batteries: Sequence[Battery]) -> str:
    """Return each battery's name with its capacity, for the form's description.

    E.g. "Demo battery (13.5 kWh), Garage (?)": the battery, not its state of
    charge sensor, and the capacity beside it.
    """
    return ", ".join(
        f"{battery_name(hass, b.soc_entity)} ("
        + (f"{b.capacity_kwh:g} kWh" if b.capacity_kwh else "?")
        + ")"
        for b in batteries
    )


def battery_name(hass: HomeAssistant, soc_entity: str) -> str:
    """Return a battery's name: its device's, else its state of charge sensor's."""
    registry_entry = er.async_get(hass).async_get(soc_entity)
    if registry_entry is not None and registry_entry.device_id is not None:
        device = dr.async_get(hass).async_get(registry_entry.device_id)
        if device is not None and (name := device.name_by_user or device.name):
            return name
    state = hass.states.get(soc_entity)
    return state.name if state is not None else soc_entity
