"""Base class of the Flatpeak entities."""

from __future__ import annotations

from typing import override

from homeassistant.const import EntityCategory
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import BaseCoordinatorEntity

from .const import DOMAIN
from .status import StatusCoordinator


class FlatpeakEntity(BaseCoordinatorEntity[StatusCoordinator]):
    """A diagnostic entity of one Flatpeak device (one per device subentry).

    It shows the status the coordinator pushes; there is nothing to poll. The
    device is named like its subentry (what Flatpeak says of it, see
    ``Device.title``), so that two devices' entity IDs differ.
    """

    _attr_has_entity_name = True
    _attr_entity_category = EntityCategory.DIAGNOSTIC

    def __init__(
        self, coordinator: StatusCoordinator, description: EntityDescription
    ) -> None:
        """Attach the entity to its subentry's device."""
        super().__init__(coordinator)
        self.entity_description = description
        device_id = coordinator.device_id
        self._attr_unique_id = f"{device_id}_{description.key}"
        device = coordinator.device
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, device_id)},
            name=coordinator.context.title,
            manufacturer="Flatpeak",
            model=device.model_name if device else None,
            serial_number=device_id,
            # A battery, not a service (0.2 registered it as one: cleared).
            entry_type=None,
        )

    @override
    async def async_update(self) -> None:
        """Nothing to fetch: the status is pushed (``homeassistant.update_entity``)."""
