"""Where a battery mapping can come from: the Energy dashboard, a device, entities."""

from __future__ import annotations

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT, PERCENTAGE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er

from ..const import CONF_ENERGY_ENTITY, CONF_POWER_ENTITY, CONF_SOC_ENTITY
from .batteries import Battery, MappingSource
from .energy_dashboard import async_energy_battery_sources
from .readings import FIELD_UNITS

# What a device's sensor is, by device class, for the form's pre-fill.
DEVICE_CLASS_FIELDS: dict[str, str] = {
    SensorDeviceClass.BATTERY: CONF_SOC_ENTITY,
    SensorDeviceClass.POWER: CONF_POWER_ENTITY,
    SensorDeviceClass.ENERGY_STORAGE: CONF_ENERGY_ENTITY,
}


async def async_energy_batteries(hass: HomeAssistant) -> list[Battery]:
    """Return the Energy dashboard's batteries that have a state of charge.

    The dashboard's power (``stat_rate``) is positive when discharging. A Home
    Assistant whose dashboard has no state of charge (before 2026.4), or one
    whose dashboard cannot be read (``mapping/energy_dashboard.py``), has none.
    """
    batteries: list[Battery] = []
    for raw in await async_energy_battery_sources(hass):
        capacity = raw.get("capacity")
        batteries.append(
            Battery(
                soc_entity=str(raw["stat_soc"]),
                power_entity=raw.get("stat_rate") or None,
                capacity_kwh=float(capacity) if capacity else None,
            )
        )
    return batteries


def _class_and_unit(
    hass: HomeAssistant, entry: er.RegistryEntry
) -> tuple[str | None, str | None]:
    """Return an entity's device class and unit (the state's, else the registry's)."""
    if (state := hass.states.get(entry.entity_id)) is not None:
        attributes = state.attributes
        return attributes.get(ATTR_DEVICE_CLASS), attributes.get(
            ATTR_UNIT_OF_MEASUREMENT
        )
    return (
        entry.device_class or entry.original_device_class,
        entry.unit_of_measurement,
    )


def device_prefill(hass: HomeAssistant, device_id: str) -> dict[str, str]:
    """Return the fields a device's sensors fill without ambiguity.

    A field is filled when exactly one enabled sensor of the device has its
    device class and a unit the field accepts; otherwise the user chooses.
    (The registry lists a device's enabled entities only.)
    """
    candidates: dict[str, list[str]] = {
        field: [] for field in DEVICE_CLASS_FIELDS.values()
    }
    for entry in er.async_entries_for_device(er.async_get(hass), device_id):
        if entry.domain != "sensor":
            continue
        device_class, unit = _class_and_unit(hass, entry)
        if (field := DEVICE_CLASS_FIELDS.get(str(device_class))) is None:
            continue
        if unit in FIELD_UNITS[field][0]:
            candidates[field].append(entry.entity_id)
    return {field: ids[0] for field, ids in candidates.items() if len(ids) == 1}


def battery_devices(hass: HomeAssistant) -> list[str]:
    """Return the devices with a battery sensor in %."""
    found: list[str] = []
    for entry in er.async_get(hass).entities.values():
        if entry.domain != "sensor" or entry.device_id is None or entry.disabled:
            continue
        if entry.device_id in found:
            continue
        device_class, unit = _class_and_unit(hass, entry)
        if device_class == SensorDeviceClass.BATTERY and unit == PERCENTAGE:
            found.append(entry.device_id)
    return found


async def async_available_sources(hass: HomeAssistant) -> list[MappingSource]:
    """Return the sources the battery step offers, in the menu's order."""
    sources: list[MappingSource] = []
    if await async_energy_batteries(hass):
        sources.append(MappingSource.ENERGY_DASHBOARD)
    if battery_devices(hass):
        sources.append(MappingSource.DEVICE)
    sources.append(MappingSource.ENTITIES)
    return sources
