"""What a user reads: the device's name, entity IDs, and diagnostics of the mapping."""

from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from .conftest import ENERGY, POWER, SOC, SUBENTRY_ID, TARGET, settle


async def test_device_named_by_flatpeak_and_entity_ids(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    [device] = dr.async_entries_for_config_entry(
        device_registry, init_integration.entry_id
    )
    # Named from what Flatpeak says of the device: two devices read apart.
    assert device.name == "Sandbox Energy Sandbox Battery 10"
    assert device.model == "Sandbox Energy Sandbox Battery 10"
    entity_ids = {
        entry.entity_id
        for entry in er.async_entries_for_config_entry(
            entity_registry, init_integration.entry_id
        )
    }
    prefix = "sandbox_energy_sandbox_battery_10"
    assert {
        f"sensor.{prefix}_submission_status",
        f"sensor.{prefix}_last_error",
        f"sensor.{prefix}_last_submission",
        f"sensor.{prefix}_queued_records",
        f"binary_sensor.{prefix}_api_connection",
        f"button.{prefix}_submit_now",
    } <= entity_ids
    state = hass.states.get(f"sensor.{prefix}_submission_status")
    assert state is not None
    assert state.attributes["friendly_name"] == (
        "Sandbox Energy Sandbox Battery 10 Submission status"
    )
    # Plural forms: the unit reads right for one record as for several.
    queued = hass.states.get(f"sensor.{prefix}_queued_records")
    assert queued is not None
    assert queued.attributes["unit_of_measurement"] == "record(s)"


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
    mapped = diagnostics["devices"][SUBENTRY_ID]["mapped_entities"]
    assert set(mapped) == {SOC, TARGET, POWER, ENERGY}
    assert mapped[SOC]["state"] == "55"
    assert mapped[SOC]["unit_of_measurement"] == "%"
    assert mapped[SOC]["device_class"] == "battery"
    assert mapped[POWER]["state"] == "1.2"
    assert mapped[POWER]["unit_of_measurement"] == "kW"
    assert mapped[ENERGY] is None  # does not exist
