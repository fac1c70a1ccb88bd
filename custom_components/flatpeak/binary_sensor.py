"""Diagnostic binary sensor: whether the Flatpeak API answers."""

from __future__ import annotations

from typing import override

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .entity import FlatpeakEntity
from .runtime import FlatpeakConfigEntry

PARALLEL_UPDATES = 0

API_CONNECTION = BinarySensorEntityDescription(
    key="api_connection",
    translation_key="api_connection",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlatpeakConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the API connection sensor of every device."""
    for subentry_id, device in entry.runtime_data.devices.items():
        async_add_entities(
            [FlatpeakConnectionSensor(device.status, API_CONNECTION)],
            config_subentry_id=subentry_id,
        )


class FlatpeakConnectionSensor(FlatpeakEntity, BinarySensorEntity):
    """On while the Flatpeak API answers; unknown until it was first asked."""

    @property
    @override
    def is_on(self) -> bool | None:
        """Return whether the last request reached the API."""
        return self.coordinator.data.connected
