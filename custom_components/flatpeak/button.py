"""Button: submit the battery's state to Flatpeak now."""

from __future__ import annotations

from typing import override

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .account.runtime import FlatpeakConfigEntry
from .entity import FlatpeakEntity

PARALLEL_UPDATES = 1

SUBMIT_NOW = ButtonEntityDescription(key="submit_now", translation_key="submit_now")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: FlatpeakConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Set up the submit-now button of every device."""
    for subentry_id, device in entry.runtime_data.devices.items():
        async_add_entities(
            [FlatpeakSubmitButton(device.status, SUBMIT_NOW)],
            config_subentry_id=subentry_id,
        )


class FlatpeakSubmitButton(FlatpeakEntity, ButtonEntity):
    """Takes a snapshot now and submits it, bypassing the minimum gap.

    No entity category: it is the device's control (submitting is what the
    integration does), neither a setting (config) nor read-only (diagnostic).
    """

    _attr_entity_category = None

    @override
    async def async_press(self) -> None:
        """Submit now; a failure raises a translated error."""
        entry: FlatpeakConfigEntry = self.coordinator.config_entry
        subentry_id = self.coordinator.context.subentry_id
        await entry.runtime_data.devices[subentry_id].async_submit_now()
