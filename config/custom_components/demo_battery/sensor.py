"""The demo battery's sensors, on one device, computed from its input_numbers."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import PERCENTAGE, UnitOfEnergy, UnitOfPower
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.event import async_track_state_change_event

from . import DOMAIN

SOC = "input_number.demo_battery_soc"
POWER = "input_number.demo_battery_power"
CAPACITY_KWH = 13.5


def _value(hass: HomeAssistant, entity_id: str) -> float | None:
    state = hass.states.get(entity_id)
    try:
        return float(state.state) if state is not None else None
    except ValueError:
        return None


@dataclass(frozen=True, kw_only=True)
class DemoSensorDescription(SensorEntityDescription):
    """A demo sensor and how it is computed."""

    value_fn: Callable[[HomeAssistant], float | None]


def _energy(hass: HomeAssistant) -> float | None:
    soc = _value(hass, SOC)
    return None if soc is None else round(soc / 100 * CAPACITY_KWH, 2)


SENSORS = (
    DemoSensorDescription(
        key="state_of_charge",
        name="State of charge",
        device_class=SensorDeviceClass.BATTERY,
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda hass: _value(hass, SOC),
    ),
    DemoSensorDescription(
        key="power",
        name="Power",
        # Positive = discharging (Home Assistant's energy dashboard convention).
        device_class=SensorDeviceClass.POWER,
        native_unit_of_measurement=UnitOfPower.WATT,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda hass: _value(hass, POWER),
    ),
    DemoSensorDescription(
        key="energy_remaining",
        name="Energy remaining",
        device_class=SensorDeviceClass.ENERGY_STORAGE,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_energy,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the demo battery's sensors."""
    async_add_entities(DemoBatterySensor(entry, description) for description in SENSORS)


class DemoBatterySensor(SensorEntity):
    """One sensor of the demo battery."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description: DemoSensorDescription

    def __init__(self, entry: ConfigEntry, description: DemoSensorDescription) -> None:
        """Describe the sensor and its device."""
        self.entity_description = description
        self._attr_unique_id = f"{entry.entry_id}_{description.key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name="Demo battery",
            manufacturer="Flatpeak demo",
            model="Simulated battery",
        )

    async def async_added_to_hass(self) -> None:
        """Follow the input_numbers the battery is simulated with."""
        self.async_on_remove(
            async_track_state_change_event(self.hass, [SOC, POWER], self._changed)
        )

    @callback
    def _changed(self, event: Event[EventStateChangedData]) -> None:
        self.async_write_ha_state()

    @property
    def native_value(self) -> float | None:
        """Return the value computed from the input_numbers."""
        return self.entity_description.value_fn(self.hass)
