"""A device of the account: "Add device" and "Change device", through the subentry flow manager."""

from typing import Any

from homeassistant.config_entries import SOURCE_RECONFIGURE, SOURCE_USER
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.const import (
    CONF_HEARTBEAT_INTERVAL,
    CONF_MIN_INTERVAL,
    CONF_OUTBOX_MAX_AGE,
    CONF_OUTBOX_MAX_RECORDS,
    CONF_POWER_ENTITY,
    CONF_SOC_ENTITY,
    CONF_SUBMIT_ON_CHANGE,
    DOMAIN,
    SUBENTRY_DEVICE,
)
from custom_components.flatpeak.flows.schemas import MAPPING_SCHEMA, SECTION_OUTBOX
from custom_components.flatpeak.mapping.forms import CONF_ADD_BATTERY
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from ..conftest import (
    BEHAVIOUR,
    DEVICE_TITLE,
    FROM_ENTITIES,
    MAPPING,
    SECOND,
    SUBENTRY_ID,
    SandboxFactory,
    device_options,
    runtime_of,
    settle,
)

pytestmark = pytest.mark.usefixtures("battery")


async def add_device(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    """Start "Add device" on the account's page."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_DEVICE), context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    return result


async def change_device(
    hass: HomeAssistant, entry: MockConfigEntry, subentry_id: str = SUBENTRY_ID
) -> dict[str, Any]:
    """Start "Change device" on a device of the account's page."""
    return await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_DEVICE),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": subentry_id},
    )


def suggested(result: dict[str, Any], key: str) -> Any:
    for marker in result["data_schema"].schema:
        if str(marker) == key:
            return (marker.description or {}).get("suggested_value")
    raise KeyError(key)


async def configure(
    hass: HomeAssistant, result: dict[str, Any], data: dict[str, Any]
) -> dict[str, Any]:
    return await hass.config_entries.subentries.async_configure(result["flow_id"], data)


async def test_add_a_second_device(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    sandbox.add_device("dev_demo2", manufacturer="Acme Storage", model="Home 13.5")
    result = await add_device(hass, init_integration)
    result = await configure(hass, result, {CONF_DEVICE_ID: " dev_demo2 "})
    # Looked up with the account's credentials; then its mapping.
    assert sandbox.requests_to("device")[-1].path == "/devices/dev_demo2"
    assert result["step_id"] == "battery"
    assert result["description_placeholders"] == {"title": "Acme Storage Home 13.5"}
    result = await configure(hass, result, MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await settle(hass)
    subentries = {s.unique_id: s for s in init_integration.subentries.values()}
    assert set(subentries) == {DEFAULT_DEVICE_ID, "dev_demo2"}
    added = subentries["dev_demo2"]
    assert added.title == "Acme Storage Home 13.5"
    assert dict(added.data) == {
        CONF_DEVICE_ID: "dev_demo2",
        **MAPPING,
        **BEHAVIOUR,
        **FROM_ENTITIES,
    }
    # The account reloaded with both devices; the new one has its entities.
    assert set(init_integration.runtime_data.devices) == set(
        init_integration.subentries
    )
    assert len(sandbox.states("dev_demo2")) == 1
    state = hass.states.get("sensor.acme_storage_home_13_5_submission_status")
    assert state is not None
    assert state.state == "ok"
    entry = entity_registry.async_get("sensor.acme_storage_home_13_5_submission_status")
    assert entry is not None
    assert entry.config_subentry_id == added.subentry_id


async def test_a_second_device_of_the_same_model_is_told_apart(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    sandbox.add_device("dev_twin", reference_id="garage")
    result = await add_device(hass, init_integration)
    result = await configure(hass, result, {CONF_DEVICE_ID: "dev_twin"})
    result = await configure(hass, result, MAPPING)
    assert result["title"] == f"{DEVICE_TITLE} (garage)"
    await settle(hass)
    assert hass.states.get(
        "sensor.sandbox_energy_sandbox_battery_10_garage_submission_status"
    )


@pytest.mark.parametrize(
    ("device_id", "errors"),
    [
        (DEFAULT_DEVICE_ID, {CONF_DEVICE_ID: "device_already_configured"}),
        ("dev_unknown", {CONF_DEVICE_ID: "device_not_found"}),
        ("dev unknown", {CONF_DEVICE_ID: "invalid_device_id"}),
    ],
)
async def test_add_device_errors_keep_what_was_typed(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    device_id: str,
    errors: dict[str, str],
) -> None:
    sandbox.add_device("dev_demo1")
    result = await add_device(hass, init_integration)
    result = await configure(hass, result, {CONF_DEVICE_ID: device_id})
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == errors
    assert suggested(result, CONF_DEVICE_ID) == device_id
    result = await configure(hass, result, {CONF_DEVICE_ID: "dev_demo1"})
    assert result["step_id"] == "battery"


async def test_add_device_while_flatpeak_is_down(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    sandbox.add_device("dev_demo1")
    result = await add_device(hass, init_integration)
    sandbox.outage = True
    result = await configure(hass, result, {CONF_DEVICE_ID: "dev_demo1"})
    assert result["errors"] == {"base": "cannot_connect"}
    sandbox.outage = False
    result = await configure(hass, result, {CONF_DEVICE_ID: "dev_demo1"})
    assert result["step_id"] == "battery"


async def test_change_submission_settings_without_the_mapping(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    result = await change_device(hass, init_integration)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["battery_source", "settings"]
    assert result["description_placeholders"] == {
        "title": DEVICE_TITLE,
        "device_id": DEFAULT_DEVICE_ID,
    }
    result = await configure(hass, result, {"next_step_id": "settings"})
    assert result["step_id"] == "settings"
    # The device ID is shown, read-only; the settings pre-filled.
    schema = {str(key): value for key, value in result["data_schema"].schema.items()}
    assert schema[CONF_DEVICE_ID].config["read_only"] is True
    assert suggested(result, CONF_DEVICE_ID) == DEFAULT_DEVICE_ID
    assert suggested(result, CONF_MIN_INTERVAL) == 30
    assert schema[SECTION_OUTBOX].options == {"collapsed": True}
    result = await configure(
        hass,
        result,
        {
            # A changed device ID is not taken.
            CONF_DEVICE_ID: "dev_other",
            CONF_SUBMIT_ON_CHANGE: True,
            CONF_MIN_INTERVAL: 60.0,
            CONF_HEARTBEAT_INTERVAL: 5,
            SECTION_OUTBOX: {CONF_OUTBOX_MAX_AGE: 48, CONF_OUTBOX_MAX_RECORDS: 500},
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await settle(hass)
    options = device_options(init_integration)
    assert options == {
        CONF_DEVICE_ID: DEFAULT_DEVICE_ID,
        **MAPPING,
        **BEHAVIOUR,
        CONF_MIN_INTERVAL: 60,
        CONF_OUTBOX_MAX_AGE: 48,
        CONF_OUTBOX_MAX_RECORDS: 500,
    }
    assert isinstance(options[CONF_MIN_INTERVAL], int)
    # Reloaded: the device runs with the new gap.
    settings = runtime_of(init_integration).settings
    assert settings.min_interval.total_seconds() == 60
    assert runtime_of(init_integration).outbox.max_records == 500


async def test_change_the_battery_mapping_keeps_the_settings(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    result = await change_device(hass, init_integration)
    result = await configure(hass, result, {"next_step_id": "battery_source"})
    # No battery device and no Energy dashboard: the entities form, pre-filled.
    assert result["step_id"] == "battery"
    assert {str(key) for key in result["data_schema"].schema} == {
        *map(str, MAPPING_SCHEMA.schema),
        CONF_ADD_BATTERY,
    }
    assert suggested(result, CONF_SOC_ENTITY) == MAPPING[CONF_SOC_ENTITY]
    new = {k: v for k, v in MAPPING.items() if k != CONF_POWER_ENTITY}
    result = await configure(hass, result, {**new, "energy_remaining_entity": "x.y"})
    assert result["errors"] == {"energy_remaining_entity": "entity_not_found"}
    result = await configure(hass, result, new)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await settle(hass)
    assert device_options(init_integration) == {
        CONF_DEVICE_ID: DEFAULT_DEVICE_ID,
        **new,
        **BEHAVIOUR,
        **FROM_ENTITIES,
    }
    assert runtime_of(init_integration).mapping.power_entity is None


async def test_devices_of_two_accounts_are_checked_against_each_other(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    make_sandbox: SandboxFactory,
    init_integration: MockConfigEntry,
) -> None:
    """A device an entry of another account (or URL) has is refused too."""
    other = await make_sandbox(account_id=sandbox.account_id)
    second = MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id=f"{sandbox.account_id}@{other.url}",
        data={**init_integration.data, "api_url": other.url},
    )
    second.add_to_hass(hass)
    result = await add_device(hass, second)
    result = await configure(hass, result, {CONF_DEVICE_ID: DEFAULT_DEVICE_ID})
    assert result["errors"] == {CONF_DEVICE_ID: "device_already_configured"}
    assert result["description_placeholders"] == {"account": init_integration.title}


@pytest.mark.usefixtures("battery", "at_start")
@pytest.mark.parametrize(
    ("fault", "error"),
    [
        pytest.param("credentials", "invalid_auth", id="credentials-refused"),
        pytest.param("url", "wrong_api_url", id="not-flatpeaks-api"),
    ],
)
async def test_add_device_says_why_when_the_account_is_refused(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    fault: str,
    error: str,
) -> None:
    """The device form has one field: an error about the account's secret key
    or API URL must show at the form's top ("base"), not on a field the form
    does not have (the UI shows nothing then: the form just comes back)."""
    sandbox.add_device(SECOND)
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_DEVICE), context={"source": SOURCE_USER}
    )
    if fault == "credentials":
        sandbox.set_reject_credentials(True)
    else:
        # A URL without a token endpoint (e.g. a proxy's page answering 404).
        sandbox.fail_next(404, endpoint="token")
    # A token may be cached: the lookup is refused, then the token request.
    sandbox.fail_next(401, endpoint="device")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: SECOND}
    )
    assert result["type"] is FlowResultType.FORM
    fields = {str(key) for key in result["data_schema"].schema}
    assert set(result["errors"]) <= {*fields, "base"}, result["errors"]
    assert result["errors"] == {"base": error}
