"""Sensors: each device's submission status and counters; what Flatpeak holds.

The read sensors (state at Flatpeak, VPP participation, prices) exist while
the account reads from Flatpeak: "State at Flatpeak" with each device; "VPP
participation" (and the binary sensors) once the device has a participation,
removed when it has none any more; "Import price" and "Export price" on a
location's device once the location's currency is known (the unit must not
change after the first state); see ``reads/dynamic_entities.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, override

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.util import dt as dt_util

from .account.runtime import FlatpeakConfigEntry
from .api import KNOWN_VPP_STATES, PriceSlot, TariffDirection
from .const import LAST_SUBMISSION_STEP, ErrorCode, SubmissionStatus
from .coordinator import DeviceStateCoordinator, PriceCoordinator, VppCoordinator
from .delivery.status import FlatpeakStatus
from .entity import (
    FlatpeakEntity,
    FlatpeakReadEntity,
    battery_device_info,
    location_device_info,
)
from .reads.dynamic_entities import (
    async_follow_location,
    async_follow_participation,
    entity_adder,
)
from .reads.policy import coming_slots
from .reads.readback import LocationReads, location_signal

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
        async_follow_location(
            entry, location, PriceSensor, entity_adder(async_add_entities, None)
        )

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


# The VPP participation sensor's states: Flatpeak's documented ones, and
# "other" for one it adds later (shown as-is in the attribute flatpeak_state).
VPP_OTHER = "other"
VPP_STATES = [state.lower() for state in KNOWN_VPP_STATES] + [VPP_OTHER]

STATE_AT_FLATPEAK = SensorEntityDescription(
    key="state_at_flatpeak",
    translation_key="state_at_flatpeak",
    device_class=SensorDeviceClass.TIMESTAMP,
    entity_category=EntityCategory.DIAGNOSTIC,
)
VPP_PARTICIPATION = SensorEntityDescription(
    key="vpp_participation",
    translation_key="vpp_participation",
    device_class=SensorDeviceClass.ENUM,
    options=VPP_STATES,
)
PRICES = {
    direction: SensorEntityDescription(
        key=f"{direction.lower()}_price",
        translation_key=f"{direction.lower()}_price",
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=4,
    )
    for direction in (TariffDirection.IMPORT, TariffDirection.EXPORT)
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


class StateAtFlatpeakSensor(FlatpeakReadEntity[DeviceStateCoordinator], SensorEntity):
    """When the newest state Flatpeak holds of the device was taken, and its values.

    ``battery_power_kw`` is shown as Flatpeak returns it: signed, positive =
    charging (the read's definition; we send a magnitude and a direction).
    Like *Last submission*, it advances in steps of ``LAST_SUBMISSION_STEP``
    while all is well (one logbook entry an hour, not one per read); when
    Flatpeak lags (the submission status says ``lagging``), or stops lagging,
    the newest reading shows at once.
    """

    def __init__(self, coordinator: DeviceStateCoordinator) -> None:
        """Show the state read of ``coordinator``'s device."""
        context = coordinator.runtime.context
        super().__init__(
            coordinator,
            STATE_AT_FLATPEAK,
            context.device_id,
            battery_device_info(context, coordinator.runtime.device),
        )
        self._shown = coordinator.data
        self._shown_lagging = False

    @callback
    @override
    def _handle_coordinator_update(self) -> None:
        """Take the newest reading when it is news (see the class)."""
        reading = self.coordinator.data
        lagging = self.coordinator.runtime.status.current.lagging
        if reading is not None and (
            self._shown is None
            or lagging
            or lagging != self._shown_lagging
            or not timedelta(0)
            <= reading.time - self._shown.time
            < LAST_SUBMISSION_STEP
        ):
            self._shown, self._shown_lagging = reading, lagging
        super()._handle_coordinator_update()

    @property
    @override
    def native_value(self) -> datetime | None:
        """Return the ``time`` of Flatpeak's newest state (as shown)."""
        return self._shown.time if self._shown else None

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Return the values Flatpeak holds at that time."""
        if (reading := self._shown) is None:
            return None
        return {
            "state_of_charge_percent": reading.state_of_charge_percent,
            "target_state_of_charge_percent": reading.target_state_of_charge_percent,
            "battery_power_kw": reading.battery_power_kw,
            "energy_remaining_kwh": reading.energy_remaining_kwh,
            "backup_reserve_percent": reading.backup_reserve_percent,
            "record_reference_id": reading.record_reference_id,
        }


class VppParticipationSensor(FlatpeakReadEntity[VppCoordinator], SensorEntity):
    """The state of the device's VPP participation (``current_state``)."""

    def __init__(self, coordinator: VppCoordinator) -> None:
        """Show the participation of ``coordinator``'s device."""
        context = coordinator.runtime.context
        super().__init__(
            coordinator,
            VPP_PARTICIPATION,
            context.device_id,
            battery_device_info(context, coordinator.runtime.device),
        )

    @property
    @override
    def native_value(self) -> str | None:
        """Return the state, lower case; ``other`` for one not documented."""
        participation = self.coordinator.participation
        if participation is None or participation.current_state is None:
            return None
        state = participation.current_state.lower()
        return state if state in VPP_STATES else VPP_OTHER

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Return the programme, provider, Flatpeak's state, reasons, description."""
        if (participation := self.coordinator.participation) is None:
            return None
        return {
            "flatpeak_state": participation.current_state,
            "programme": participation.programme_name,
            "provider": participation.provider_name,
            "suspension_reasons": list(participation.suspension_reasons),
            "description": participation.description,
            "learn_more_url": participation.programme_learn_more_url,
        }


class PriceSensor(FlatpeakReadEntity[PriceCoordinator], SensorEntity):
    """The price valid now at a location, in ``<currency>/kWh`` (major units).

    Usable as the Energy dashboard's price entity (a number per kWh, no
    device class: ``monetary`` takes a bare currency). The coming slots are
    the attribute ``slots`` (not recorded: the recorder keeps the price).
    While a read fails, the price known for now is still shown; a 422 saying
    that there is no price shows no value, with its ``reason``.
    """

    _unrecorded_attributes = frozenset({"slots"})

    def __init__(
        self, coordinator: PriceCoordinator, currency: str, reference: str | None
    ) -> None:
        """Show the prices of ``coordinator``'s location and direction."""
        super().__init__(
            coordinator,
            PRICES[coordinator.direction],
            coordinator.location_id,
            location_device_info(coordinator.location_id, reference),
        )
        self._attr_native_unit_of_measurement = f"{currency}/kWh"

    def _slot_now(self) -> PriceSlot | None:
        series = self.coordinator.series
        return series.slot_at(dt_util.utcnow()) if series is not None else None

    @property
    @override
    def available(self) -> bool:
        """Return whether there is something to show: an answer, or a price for now."""
        return self.coordinator.last_update_success or self._slot_now() is not None

    @property
    @override
    def native_value(self) -> float | None:
        """Return the price of the slot valid now."""
        slot = self._slot_now()
        return slot.value if slot is not None else None

    @property
    @override
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """Return the slot valid now, Flatpeak's last update and the coming slots."""
        data = self.coordinator.data
        if data is None:
            return None
        if data.series is None:
            return {"reason": data.unavailable}
        now = dt_util.utcnow()
        slot = data.series.slot_at(now)
        return {
            "slot_start": _iso(slot.start) if slot else None,
            "slot_end": _iso(slot.end) if slot else None,
            "confidence": slot.confidence if slot else None,
            "forecast": slot.is_forecast if slot else None,
            "last_updated": _iso(data.series.last_updated),
            "slots": [
                {
                    "start": _iso(coming.start),
                    "end": _iso(coming.end),
                    "value": coming.value,
                    "confidence": coming.confidence,
                    "forecast": coming.is_forecast,
                }
                for coming in coming_slots(data.series, now)
            ],
        }
