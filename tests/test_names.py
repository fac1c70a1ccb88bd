"""What a user reads: the device's name, entity IDs, and diagnostics of the mapping."""

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import ENERGY, POWER, SOC, TARGET, settle


async def test_short_device_name_and_entity_ids(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    [device] = dr.async_entries_for_config_entry(
        device_registry, init_integration.entry_id
    )
    assert device.name == "Flatpeak battery"
    assert device.model == "Sandbox Energy Sandbox Battery 10"
    entity_ids = {
        entry.entity_id
        for entry in er.async_entries_for_config_entry(
            entity_registry, init_integration.entry_id
        )
    }
    assert {
        "sensor.flatpeak_battery_submission_status",
        "sensor.flatpeak_battery_last_error",
        "sensor.flatpeak_battery_last_submission",
        "sensor.flatpeak_battery_queued_records",
        "binary_sensor.flatpeak_battery_api_connection",
        "button.flatpeak_battery_submit_now",
    } <= entity_ids
    state = hass.states.get("sensor.flatpeak_battery_submission_status")
    assert state is not None
    assert state.attributes["friendly_name"] == "Flatpeak battery Submission status"


@pytest.mark.usefixtures("battery")
async def test_diagnostics_show_the_mapped_entities_states_and_units(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    hass.states.async_remove(ENERGY)
    hass.states.async_set(POWER, "1.2", {"unit_of_measurement": "kW"})
    await settle(hass)
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    mapped = diagnostics["mapped_entities"]
    assert set(mapped) == {SOC, TARGET, POWER, ENERGY}
    assert mapped[SOC]["state"] == "55"
    assert mapped[SOC]["unit_of_measurement"] == "%"
    assert mapped[SOC]["device_class"] == "battery"
    assert mapped[POWER]["state"] == "1.2"
    assert mapped[POWER]["unit_of_measurement"] == "kW"
    assert mapped[ENERGY] is None  # does not exist
