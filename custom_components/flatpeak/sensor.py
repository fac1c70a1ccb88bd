"""Sensors: each device's submission status and counters; what Flatpeak holds.

The read sensors (state at Flatpeak, VPP participation, prices) are in
``reads/sensors.py``; they exist while the account reads from Flatpeak.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .account.runtime import FlatpeakConfigEntry
from .const import ErrorCode, SubmissionStatus
from .delivery.status import FlatpeakStatus
from .entity import FlatpeakEntity
from .reads.dynamic_entities import (
    async_follow_location,
    async_follow_participation,
    entity_adder,
)
from .reads.readback import LocationReads, location_signal
from .reads.sensors import StateAtFlatpeakSensor, VppParticipationSensor

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class FlatpeakSensorEntityDescription(SensorEntityDescription):
    """Describes a Flatpeak sensor: its value (and attributes) from the status."""

    value_fn: Callable[[FlatpeakStatus], str | int | datetime | None]
    attributes_fn: Callable[[FlatpeakStatus], Mapping[str, Any]] | None = None


def _last_error_attributes(status: FlatpeakStatus) -> Mapping[str, Any]:
    """Return what the user needs beyond the code: Flatpeak's words, the entity.

    ``unreadable_entity`` is the entity a snapshot could not read (not
    ``entity_id``: Home Assistant reads that attribute as a group's members).
    When the error happened is the state's last change (the history); the
    exact time of the last failure is in the diagnostics.
    """
    return {
        "message": status.last_error_message,
        "unreadable_entity": status.last_error_entity,
    }


SENSORS: tuple[FlatpeakSensorEntityDescription, ...] = (
    FlatpeakSensorEntityDescription(
        key="submission_status",
        translation_key="submission_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in SubmissionStatus],
        value_fn=lambda status: status.shown_status.value,
    ),
    FlatpeakSensorEntityDescription(
        key="last_submission",
        translation_key="last_submission",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda status: status.last_success,
    ),
    FlatpeakSensorEntityDescription(
        key="last_error",
        translation_key="last_error",
        device_class=SensorDeviceClass.ENUM,
        options=[code.value for code in ErrorCode],
        value_fn=lambda status: status.last_error.value,
        attributes_fn=_last_error_attributes,
    ),
    FlatpeakSensorEntityDescription(
        key="consecutive_failures",
        translation_key="consecutive_failures",
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        value_fn=lambda status: status.consecutive_failures,
    ),
    FlatpeakSensorEntityDescription(
        key="queued_records",
        translation_key="queued_records",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda status: status.queued,
    ),
    FlatpeakSensorEntityDescription(
        key="dropped_records",
        translation_key="dropped_records",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda status: status.dropped,
    ),
    FlatpeakSensorEntityDescription(
        key="rejected_records",
        translation_key="rejected_records",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda status: status.rejected,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlatpeakConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the Flatpeak sensors of every device, and the read sensors."""
    for subentry_id, device in entry.runtime_data.devices.items():
        async_add_entities(
            (
                FlatpeakSensorEntity(device.status, description)
                for description in SENSORS
            ),
            config_subentry_id=subentry_id,
        )
    if (reads := entry.runtime_data.reads) is None:
        return
    for subentry_id, device_reads in reads.devices.items():
        async_add_entities(
            [StateAtFlatpeakSensor(device_reads.state)], config_subentry_id=subentry_id
        )
        async_follow_participation(
            hass,
            entry,
            device_reads.vpp,
            lambda vpp: [VppParticipationSensor(vpp)],
            entity_adder(async_add_entities, subentry_id),
        )

    @callback
    def follow(location: LocationReads) -> None:
        async_follow_location(entry, location, entity_adder(async_add_entities, None))

    for location in reads.locations.values():
        follow(location)
    entry.async_on_unload(
        async_dispatcher_connect(hass, location_signal(entry.entry_id), follow)
    )


class FlatpeakSensorEntity(FlatpeakEntity, SensorEntity):
    """A Flatpeak diagnostic sensor."""

    entity_description: FlatpeakSensorEntityDescription

    @property
    @override
    def native_value(self) -> str | int | datetime | None:
        """Return the sensor's value."""
        return self.entity_description.value_fn(self.coordinator.data)

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Return the sensor's attributes, if it has any."""
        if (attributes_fn := self.entity_description.attributes_fn) is None:
            return None
        return attributes_fn(self.coordinator.data)
