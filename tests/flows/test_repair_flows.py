"""Repair issues fixed the way Home Assistant's UI fixes them: /api/repairs/issues/fix."""

from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import DOMAIN as REPAIRS
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flatpeak.account.issues import device_issue_id, mapping_issue_id
from custom_components.flatpeak.const import (
    CONF_POWER_ENTITY,
    CONF_RESERVE_PERCENT,
    DOMAIN,
)
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from ..conftest import (
    BEHAVIOUR,
    DEVICE_TITLE,
    FROM_ENTITIES,
    MAPPING,
    POWER,
    SOC,
    SUBENTRY_ID,
    advance,
    device_options,
    drain,
    runtime_of,
    set_soc,
    settle,
)

type Fix = Any

# Away from a heartbeat boundary: a heartbeat would add a record of its own.
pytestmark = pytest.mark.usefixtures("at_start")


@pytest.fixture
async def fix(hass: HomeAssistant, hass_client: ClientSessionGenerator) -> Fix:
    """Return a function that posts to the repairs API like the frontend does."""
    assert await async_setup_component(hass, REPAIRS, {})
    await hass.async_block_till_done()  # repairs platforms load in the background
    client = await hass_client()

    async def post(payload: dict[str, Any], flow_id: str | None = None) -> Any:
        url = "/api/repairs/issues/fix"
        response = await client.post(
            f"{url}/{flow_id}" if flow_id else url, json=payload
        )
        assert response.status == 200, await response.text()
        return await response.json()

    return post


def suggested(flow: dict[str, Any]) -> dict[str, Any]:
    """Return the suggested values of a serialized form."""
    return {
        field["name"]: field["description"]["suggested_value"]
        for field in flow["data_schema"]
        if "suggested_value" in (field.get("description") or {})
    }


async def test_mapping_fix_opens_prefilled_and_keeps_what_it_does_not_show(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    fix: Fix,
) -> None:
    options = dict(device_options(init_integration))
    assert options[CONF_RESERVE_PERCENT] == 20  # a fixed reserve
    hass.states.async_remove(POWER)
    await advance(hass, freezer, 1)
    issue_id = mapping_issue_id(SUBENTRY_ID)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_placeholders == {"title": DEVICE_TITLE, "entities": POWER}

    flow = await fix({"handler": DOMAIN, "issue_id": issue_id})
    # Opens on the form, pre-filled with the current mapping, without an error.
    assert flow["type"] == "form"
    assert flow["step_id"] == "battery"
    assert not flow["errors"]
    assert suggested(flow) == MAPPING
    # It says first what is broken, and with what.
    assert flow["description_placeholders"] == {
        "title": DEVICE_TITLE,
        "problems": f"- {POWER}: This entity does not exist.",
    }

    # The user clears the missing power entity and submits the rest as shown.
    flow = await fix({**MAPPING, CONF_POWER_ENTITY: SOC}, flow_id=flow["flow_id"])
    assert flow["errors"] == {CONF_POWER_ENTITY: "invalid_power_unit"}
    shown = {k: v for k, v in MAPPING.items() if k != CONF_POWER_ENTITY}
    flow = await fix(shown, flow_id=flow["flow_id"])
    assert flow["type"] == "create_entry"
    await settle(hass)
    assert device_options(init_integration) == {
        CONF_DEVICE_ID: DEFAULT_DEVICE_ID,
        **shown,
        **BEHAVIOUR,
        **FROM_ENTITIES,
    }
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    assert runtime_of(init_integration).mapping.reserve_percent == 20


@pytest.mark.parametrize("removed", ["account", "device"])
async def test_mapping_fix_of_a_removed_device_aborts(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    fix: Fix,
    removed: str,
) -> None:
    hass.states.async_remove(POWER)
    await advance(hass, freezer, 1)
    issue_id = mapping_issue_id(SUBENTRY_ID)
    flow = await fix({"handler": DOMAIN, "issue_id": issue_id})
    if removed == "account":
        await hass.config_entries.async_remove(init_integration.entry_id)
    else:
        hass.config_entries.async_remove_subentry(init_integration, SUBENTRY_ID)
    await settle(hass)
    flow = await fix(MAPPING, flow_id=flow["flow_id"])
    assert flow["type"] == "abort"
    assert flow["reason"] == "entry_removed"


async def test_device_not_found_is_fixable_by_checking_again(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    fix: Fix,
) -> None:
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    for value in (10, 11):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    issue_id = device_issue_id(SUBENTRY_ID)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders == {
        "device_id": DEFAULT_DEVICE_ID,
        "title": DEVICE_TITLE,
    }

    flow = await fix({"handler": DOMAIN, "issue_id": issue_id})
    assert flow["type"] == "form"
    assert flow["step_id"] == "check"
    assert not flow["errors"]
    assert flow["description_placeholders"] == {
        "device_id": DEFAULT_DEVICE_ID,
        "title": DEVICE_TITLE,
        "integration_page": f"/config/integrations/integration/{DOMAIN}",
    }
    # Still gone: the form says so, and the issue stays.
    flow = await fix({}, flow_id=flow["flow_id"])
    assert flow["errors"] == {"base": "device_not_found"}
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None

    # Back at Flatpeak: checking again resumes and delivers what was kept.
    sandbox.add_device(DEFAULT_DEVICE_ID)
    flow = await fix({}, flow_id=flow["flow_id"])
    assert flow["type"] == "create_entry"
    await settle(hass)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    await drain(hass, freezer, init_integration)
    socs = [s["state_of_charge_percent"] for s in sandbox.states()]
    # What was kept, in order (the reloaded entry's start snapshot follows it).
    assert socs[socs.index(10) :][:2] == [10, 11]


async def test_device_fix_of_a_removed_entry_aborts(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    fix: Fix,
) -> None:
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    set_soc(hass, 10)
    await advance(hass, freezer, 31)
    flow = await fix({"handler": DOMAIN, "issue_id": device_issue_id(SUBENTRY_ID)})
    await hass.config_entries.async_remove(init_integration.entry_id)
    flow = await fix({}, flow_id=flow["flow_id"])
    assert flow["type"] == "abort"
    assert flow["reason"] == "entry_removed"


async def test_disabled_entity_raises_the_mapping_issue_and_is_refused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    entity_registry: er.EntityRegistry,
    fix: Fix,
) -> None:
    """A mapped entity the user disabled has no state: a fixable issue, and the
    fix form refuses it until another entity (or none) is chosen."""
    hass.states.async_remove(POWER)
    entity_registry.async_get_or_create(
        "sensor",
        "test",
        "battery-power",
        suggested_object_id=POWER.removeprefix("sensor."),
        disabled_by=er.RegistryEntryDisabler.USER,
    )
    assert entity_registry.async_get(POWER) is not None
    await advance(hass, freezer, 1)
    set_soc(hass, 61)
    await advance(hass, freezer, 60)
    issue_id = mapping_issue_id(SUBENTRY_ID)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None

    flow = await fix({"handler": DOMAIN, "issue_id": issue_id})
    assert flow["description_placeholders"]["problems"] == (
        f"- {POWER}: This entity is disabled: enable it or choose another one."
    )
    flow = await fix(MAPPING, flow_id=flow["flow_id"])
    assert flow["errors"] == {CONF_POWER_ENTITY: "entity_disabled"}
    shown = {k: v for k, v in MAPPING.items() if k != CONF_POWER_ENTITY}
    flow = await fix(shown, flow_id=flow["flow_id"])
    assert flow["type"] == "create_entry"
