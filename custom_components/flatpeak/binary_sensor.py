"""Binary sensors: whether the Flatpeak API answers; the VPP programme's flags."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import override

from homeassistant.components.binary_sensor import (
    BinarySensorDeviceClass,
    BinarySensorEntity,
    BinarySensorEntityDescription,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .account.runtime import FlatpeakConfigEntry
from .api import VppParticipation
from .coordinator import VppCoordinator
from .entity import FlatpeakEntity, FlatpeakReadEntity, battery_device_info
from .reads.dynamic_entities import async_follow_participation, entity_adder

PARALLEL_UPDATES = 0

API_CONNECTION = BinarySensorEntityDescription(
    key="api_connection",
    translation_key="api_connection",
    device_class=BinarySensorDeviceClass.CONNECTIVITY,
)


@dataclass(frozen=True, kw_only=True)
class FlatpeakVppBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A flag of the device's VPP participation."""

    value_fn: Callable[[VppParticipation], bool | None]


VPP_FLAGS = (
    FlatpeakVppBinarySensorEntityDescription(
        key="telemetry_active",
        translation_key="telemetry_active",
        value_fn=lambda participation: participation.telemetry_active,
    ),
    FlatpeakVppBinarySensorEntityDescription(
        key="dispatchable",
        translation_key="dispatchable",
        value_fn=lambda participation: participation.control_active,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlatpeakConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the API connection sensor of every device, and its VPP flags."""
    for subentry_id, device in entry.runtime_data.devices.items():
        async_add_entities(
            [FlatpeakConnectionSensor(device.status, API_CONNECTION)],
            config_subentry_id=subentry_id,
        )
    if (reads := entry.runtime_data.reads) is None:
        return
    for subentry_id, device_reads in reads.devices.items():
        async_follow_participation(
            hass,
            entry,
            device_reads.vpp,
            lambda vpp: [VppFlagSensor(vpp, flag) for flag in VPP_FLAGS],
            entity_adder(async_add_entities, subentry_id),
        )


class FlatpeakConnectionSensor(FlatpeakEntity, BinarySensorEntity):
    """On while the Flatpeak API answers; unknown until it was first asked."""

    @property
    @override
    def is_on(self) -> bool | None:
        """Return whether the last request reached the API."""
        return self.coordinator.data.connected


class VppFlagSensor(FlatpeakReadEntity[VppCoordinator], BinarySensorEntity):
    """A flag of the device's VPP participation.

    Telemetry active at Flatpeak (``telemetry_active``: off after 24 h
    without data) or Dispatchable (``control_active``: the programme may
    dispatch the battery now; not "dispatching").
    """

    entity_description: FlatpeakVppBinarySensorEntityDescription

    def __init__(
        self,
        coordinator: VppCoordinator,
        description: FlatpeakVppBinarySensorEntityDescription,
    ) -> None:
        """Show ``description``'s flag of ``coordinator``'s device."""
        context = coordinator.runtime.context
        super().__init__(
            coordinator,
            description,
            context.device_id,
            battery_device_info(context, coordinator.runtime.device),
        )

    @property
    @override
    def is_on(self) -> bool | None:
        """Return the flag (unknown when Flatpeak does not say)."""
        participation = self.coordinator.participation
        if participation is None:
            return None
        return self.entity_description.value_fn(participation)
