"""Diagnostic sensors: submission status, last success, last error, counters."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import SubmissionStatus
from .coordinator import FlatpeakConfigEntry, FlatpeakCoordinator
from .entity import FlatpeakEntity

PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class FlatpeakSensorEntityDescription(SensorEntityDescription):
    """Describes a Flatpeak sensor."""

    value_fn: Callable[[FlatpeakCoordinator], str | int | datetime | None]


SENSORS: tuple[FlatpeakSensorEntityDescription, ...] = (
    FlatpeakSensorEntityDescription(
        key="submission_status",
        translation_key="submission_status",
        device_class=SensorDeviceClass.ENUM,
        options=[status.value for status in SubmissionStatus],
        value_fn=lambda coordinator: coordinator.data.status.value,
    ),
    FlatpeakSensorEntityDescription(
        key="last_submission",
        translation_key="last_submission",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=lambda coordinator: coordinator.data.last_success,
    ),
    FlatpeakSensorEntityDescription(
        key="last_error",
        translation_key="last_error",
        value_fn=lambda coordinator: (
            coordinator.data.last_error[:255] if coordinator.data.last_error else None
        ),
    ),
    FlatpeakSensorEntityDescription(
        key="consecutive_failures",
        translation_key="consecutive_failures",
        state_class=SensorStateClass.MEASUREMENT,
        entity_registry_enabled_default=False,
        value_fn=lambda coordinator: coordinator.data.consecutive_failures,
    ),
    FlatpeakSensorEntityDescription(
        key="queued_records",
        translation_key="queued_records",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=lambda coordinator: len(coordinator.outbox),
    ),
    FlatpeakSensorEntityDescription(
        key="dropped_records",
        translation_key="dropped_records",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda coordinator: coordinator.outbox.dropped,
    ),
    FlatpeakSensorEntityDescription(
        key="rejected_records",
        translation_key="rejected_records",
        state_class=SensorStateClass.TOTAL_INCREASING,
        value_fn=lambda coordinator: coordinator.outbox.rejected,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlatpeakConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the Flatpeak sensors."""
    async_add_entities(
        FlatpeakSensorEntity(entry.runtime_data, description) for description in SENSORS
    )


class FlatpeakSensorEntity(FlatpeakEntity, SensorEntity):
    """A Flatpeak diagnostic sensor."""

    entity_description: FlatpeakSensorEntityDescription

    @property
    def native_value(self) -> str | int | datetime | None:
        """Return the sensor's value."""
        return self.entity_description.value_fn(self.coordinator)
