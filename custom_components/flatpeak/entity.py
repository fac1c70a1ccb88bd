"""Base class of the Flatpeak entities."""

from __future__ import annotations

from typing import override

from homeassistant.const import EntityCategory
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import BaseCoordinatorEntity

from .const import DOMAIN
from .status import StatusCoordinator

# The device's name, short so that entity IDs read like
# sensor.flatpeak_battery_submission_status; the model tells batteries apart on
# the device page, the entry title in the integration's list.
DEVICE_NAME = "Flatpeak battery"


class FlatpeakEntity(BaseCoordinatorEntity[StatusCoordinator]):
    """A diagnostic entity of one Flatpeak device (one per config entry).

    It shows the status the coordinator pushes; there is nothing to poll.
    """

    _attr_has_entity_name = True
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(
        self, coordinator: StatusCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to the entry's device."""
        super().__init__(coordinator)
        self.entity_description = description
        device_id = coordinator.device_id
        self._attr_unique_id = f"{device_id}_{description.key}"
        device = coordinator.device
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, device_id)},
            name=DEVICE_NAME,
            manufacturer="Flatpeak",
            model=device.model_name if device else None,
            serial_number=device_id,
            entry_type=DeviceEntryType.SERVICE,
        )

    @override
    async def async_update(self) -> None:
        """Nothing to fetch: the status is pushed (``homeassistant.update_entity``)."""
