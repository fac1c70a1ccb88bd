"""Event: what delivery tells automations (rejected, paused, resumed, a backlog delivered)."""

from __future__ import annotations

from typing import Any, override

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .account.runtime import FlatpeakConfigEntry, FlatpeakRuntimeData
from .delivery.events import ATTR_REASON, DeliveryEvent, DeliveryEvents
from .entity import battery_device_info

PARALLEL_UPDATES = 0

DELIVERY = EventEntityDescription(
    key="delivery",
    translation_key="delivery",
    entity_category=EntityCategory.DIAGNOSTIC,
    event_types=[event.value for event in DeliveryEvent],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlatpeakConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the delivery event entity of every device."""
    for subentry_id, device in entry.runtime_data.devices.items():
        async_add_entities(
            [FlatpeakDeliveryEvent(device)], config_subentry_id=subentry_id
        )


class FlatpeakDeliveryEvent(EventEntity):
    """Fires what the device's sender reports (``delivery/events.py``)."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    entity_description = DELIVERY

    def __init__(self, runtime: FlatpeakRuntimeData) -> None:
        """Attach the entity to its subentry's device and its sender's events."""
        context = runtime.context
        self._events: DeliveryEvents = runtime.sender.events
        self._attr_unique_id = f"{context.device_id}_{DELIVERY.key}"
        self._attr_device_info = battery_device_info(context, runtime.device)

    @override
    async def async_added_to_hass(self) -> None:
        """Listen; a pause restored from the last run ends with a delivery."""
        await super().async_added_to_hass()
        paused_for: str | None = None
        if self.state is not None:
            restored = self.state_attributes
            if restored.get("event_type") == DeliveryEvent.PAUSED:
                paused_for = restored.get(ATTR_REASON)
        self.async_on_remove(self._events.listen(self._fired, paused_for=paused_for))

    @callback
    def _fired(self, event: DeliveryEvent, attributes: dict[str, Any]) -> None:
        self._trigger_event(event, attributes)
        self.async_write_ha_state()
