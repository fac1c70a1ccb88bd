"""Base classes of the Flatpeak entities: a device's, and a location's."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, override

from homeassistant.const import EntityCategory
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import (
    BaseCoordinatorEntity,
    CoordinatorEntity,
    DataUpdateCoordinator,
)

from .const import DOMAIN
from .delivery.status import StatusPublisher

if TYPE_CHECKING:
    from .account.device import DeviceContext
    from .api import Device


def battery_device_info(context: DeviceContext, device: Device | None) -> DeviceInfo:
    """Return the Home Assistant device of a Flatpeak device (its subentry's).

    Named like its subentry (what Flatpeak says of it, see ``Device.title``),
    so that two devices' entity IDs differ.
    """
    return DeviceInfo(
        identifiers={(DOMAIN, context.device_id)},
        name=context.title,
        manufacturer="Flatpeak",
        model=device.model_name if device else None,
        serial_number=context.device_id,
        # A battery, not a service (0.2 registered it as one: cleared).
        entry_type=None,
    )


def location_device_info(location_id: str, reference: str | None) -> DeviceInfo:
    """Return the account-level Home Assistant device of a Flatpeak location.

    One per location, whatever the number of the account's devices there:
    its prices are the location's. Named "Flatpeak <reference>" (the
    location's own reference, else its ID) for readable entity IDs.
    """
    return DeviceInfo(
        identifiers={(DOMAIN, location_id)},
        name=f"Flatpeak {reference or location_id}",
        manufacturer="Flatpeak",
        model="Location",
        serial_number=location_id,
        entry_type=DeviceEntryType.SERVICE,
    )


class FlatpeakEntity(BaseCoordinatorEntity[StatusPublisher]):
    """A diagnostic entity of one Flatpeak device (one per device subentry).

    It shows the status the coordinator pushes; there is nothing to poll.
    """

    _attr_has_entity_name = True
    _attr_entity_category: EntityCategory | None = EntityCategory.DIAGNOSTIC

    def __init__(
        self, coordinator: StatusPublisher, description: EntityDescription
    ) -> None:
        """Attach the entity to its subentry's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{coordinator.device_id}_{description.key}"
        self._attr_device_info = battery_device_info(
            coordinator.context, coordinator.device
        )

    @override
    async def async_update(self) -> None:
        """Nothing to fetch: the status is pushed (``homeassistant.update_entity``)."""


class FlatpeakReadEntity[CoordinatorT: DataUpdateCoordinator[Any]](
    CoordinatorEntity[CoordinatorT]
):
    """An entity showing what Flatpeak holds: a read coordinator's data.

    ``homeassistant.update_entity`` asks Flatpeak again (debounced).
    """

    _attr_has_entity_name = True

    def __init__(
        self,
        coordinator: CoordinatorT,
        description: EntityDescription,
        unique_prefix: str,
        device_info: DeviceInfo,
    ) -> None:
        """Attach the entity to a battery's or a location's device."""
        super().__init__(coordinator)
        self.entity_description = description
        self._attr_unique_id = f"{unique_prefix}_{description.key}"
        self._attr_device_info = device_info
