"""Every branch of the config, options, reauth and reconfigure flows, live against the sandbox."""

from typing import Any
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import props

from custom_components.flatpeak.api import api_url_is_safe
from custom_components.flatpeak.const import (
    CONF_ACCOUNT_ID,
    CONF_API_URL,
    CONF_ENERGY_ENTITY,
    CONF_HEARTBEAT_INTERVAL,
    CONF_MIN_INTERVAL,
    CONF_OUTBOX_MAX_AGE,
    CONF_OUTBOX_MAX_RECORDS,
    CONF_POWER_ENTITY,
    CONF_RESERVE_ENTITY,
    CONF_SECRET_KEY,
    CONF_SOC_ENTITY,
    CONF_SUBMIT_ON_CHANGE,
    CONF_TARGET_SOC_ENTITY,
    CONF_TARGET_SOC_PERCENT,
    DOMAIN,
)
from custom_components.flatpeak.flow_validation import VALIDATION_TIMEOUT
from custom_components.flatpeak.mapping_forms import CONF_ADD_BATTERY
from custom_components.flatpeak.schemas import (
    MAPPING_SCHEMA,
    SECTION_ADVANCED,
    SECTION_OUTBOX,
    SECTION_SUBMISSION,
)
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from .conftest import (
    BEHAVIOUR,
    ENERGY,
    FROM_ENTITIES,
    MAPPING,
    POWER,
    RESERVE,
    SOC,
    SandboxFactory,
    settle,
)

pytestmark = pytest.mark.usefixtures("battery")


def entry_data(sandbox: FlatpeakSandbox, **changes: str) -> dict[str, str]:
    return {
        CONF_ACCOUNT_ID: sandbox.account_id,
        CONF_SECRET_KEY: sandbox.secret_key,
        CONF_DEVICE_ID: DEFAULT_DEVICE_ID,
        CONF_API_URL: sandbox.url,
        **changes,
    }


def credentials(sandbox: FlatpeakSandbox, **changes: str) -> dict[str, Any]:
    """Return what the user step's form sends: the API URL sits in its section."""
    data: dict[str, Any] = entry_data(sandbox, **changes)
    data[SECTION_ADVANCED] = {CONF_API_URL: data.pop(CONF_API_URL)}
    return data


def suggestions(result: dict[str, Any]) -> dict[str, Any]:
    """Return the suggested values of a form, sections included."""

    def walk(schema: Any) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for key, value in schema.items():
            if str(key) == SECTION_ADVANCED:
                found[str(key)] = walk(value.schema.schema)
            else:
                found[str(key)] = (key.description or {}).get("suggested_value")
        return found

    return walk(result["data_schema"].schema)


def advanced_section(result: dict[str, Any]) -> Any:
    """Return the "Advanced options" section of a credentials form."""
    schema = result["data_schema"].schema
    return next(value for key, value in schema.items() if str(key) == SECTION_ADVANCED)


async def start_advanced(hass: HomeAssistant) -> dict[str, Any]:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert set(map(str, result["data_schema"].schema)) == {
        CONF_ACCOUNT_ID,
        CONF_SECRET_KEY,
        CONF_DEVICE_ID,
        SECTION_ADVANCED,
    }
    return result


async def test_full_flow_advanced(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, snapshot: SnapshotAssertion
) -> None:
    result = await start_advanced(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        credentials(sandbox, **{CONF_ACCOUNT_ID: f"  {sandbox.account_id} "}),
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "battery"
    assert result["errors"] == {}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Sandbox Energy Sandbox Battery 10 (battery-0001)"
    assert result["data"] == entry_data(sandbox)
    assert result["options"] == {**MAPPING, **BEHAVIOUR, **FROM_ENTITIES}
    assert result["result"].unique_id == DEFAULT_DEVICE_ID
    # Validated live: a token, then the device.
    assert [r.endpoint for r in sandbox.requests][:2] == ["token", "device"]
    # The whole result, as core's flow tests keep it (the sandbox's URL varies).
    assert result == snapshot(
        exclude=props("flow_id", "entry_id", "result", "api_url", "created_at")
    )


async def test_api_url_defaults_to_flatpeak(hass: HomeAssistant) -> None:
    result = await start_advanced(hass)
    section = advanced_section(result)
    assert section.schema({}) == {CONF_API_URL: "https://api.flatpeak.com"}
    assert section.options == {"collapsed": True}


@pytest.mark.parametrize(
    ("setup", "changes", "errors"),
    [
        (None, {CONF_SECRET_KEY: "sk_test_wrong"}, {CONF_SECRET_KEY: "invalid_auth"}),
        (None, {CONF_DEVICE_ID: "dev_unknown"}, {CONF_DEVICE_ID: "device_not_found"}),
        (
            None,
            {CONF_API_URL: "http://192.0.2.1:8080"},
            {SECTION_ADVANCED: "invalid_url"},
        ),
        (
            None,
            {CONF_API_URL: "ftp://api.flatpeak.com"},
            {SECTION_ADVANCED: "invalid_url"},
        ),
        ("token:404", {}, {SECTION_ADVANCED: "wrong_api_url"}),
        ("token:429", {}, {"base": "rate_limited"}),
        ("token:503", {}, {"base": "cannot_connect"}),
        ("token:drop", {}, {"base": "cannot_connect"}),
        ("token:garbage", {}, {"base": "unknown"}),
        ("device:409", {}, {"base": "unknown"}),
        (None, {CONF_ACCOUNT_ID: "acc one"}, {CONF_ACCOUNT_ID: "invalid_account_id"}),
        (
            None,
            {CONF_DEVICE_ID: "dev_x/../../auth/tokens"},
            {CONF_DEVICE_ID: "invalid_device_id"},
        ),
        (None, {CONF_DEVICE_ID: "dev_x?y=1"}, {CONF_DEVICE_ID: "invalid_device_id"}),
        (None, {CONF_DEVICE_ID: "x"}, {CONF_DEVICE_ID: "invalid_device_id"}),
    ],
)
async def test_user_step_errors_then_recovery(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    setup: str | None,
    changes: dict[str, str],
    errors: dict[str, str],
) -> None:
    if setup:
        endpoint, fault = setup.split(":")
        if fault == "drop":
            # aiohttp retries a dropped idempotent request (GET/PUT) once, not a POST.
            sandbox.drop_next(1 if endpoint == "token" else 2, endpoint=endpoint)
        elif fault == "garbage":
            sandbox.fail_next(200, endpoint=endpoint, body="<html>")
        else:
            sandbox.fail_next(int(fault), endpoint=endpoint)
    result = await start_advanced(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox, **changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    assert result["errors"] == errors
    # What the user typed is kept; the secret key too unless the error is about it.
    typed = credentials(sandbox, **changes)
    suggested = suggestions(result)
    assert suggested[CONF_ACCOUNT_ID] == typed[CONF_ACCOUNT_ID]
    assert suggested[CONF_DEVICE_ID] == typed[CONF_DEVICE_ID]
    assert suggested[CONF_SECRET_KEY] == (
        None if CONF_SECRET_KEY in errors else typed[CONF_SECRET_KEY]
    )
    assert suggested[SECTION_ADVANCED] == typed[SECTION_ADVANCED]
    # The section opens when its field has the error.
    assert advanced_section(result).options == {
        "collapsed": SECTION_ADVANCED not in errors
    }
    await finish_user_flow(hass, sandbox, result)


async def finish_user_flow(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, result: dict[str, Any]
) -> None:
    """Recover: valid credentials, then the mapping, create the entry."""
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox)
    )
    assert result["step_id"] == "battery"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == DEFAULT_DEVICE_ID


async def test_ids_are_trimmed(hass: HomeAssistant, sandbox: FlatpeakSandbox) -> None:
    result = await start_advanced(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        credentials(
            sandbox,
            **{
                CONF_DEVICE_ID: f"\t{DEFAULT_DEVICE_ID} ",
                CONF_SECRET_KEY: f" {sandbox.secret_key}\n",
            },
        ),
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == entry_data(sandbox)


async def test_unexpected_exception(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    result = await start_advanced(hass)
    with patch(
        "custom_components.flatpeak.api.FlatpeakClient.authenticate",
        side_effect=RuntimeError("boom"),
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials(sandbox)
        )
    assert result["errors"] == {"base": "unknown"}
    await finish_user_flow(hass, sandbox, result)


async def test_connection_refused(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    result = await start_advanced(hass)
    await sandbox.stop()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox)
    )
    assert result["errors"] == {"base": "cannot_connect"}
    await sandbox.start()
    await finish_user_flow(hass, sandbox, result)


async def test_unresponsive_api_answers_with_timeout(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    """A host that does not answer gives the form an answer, not a 60 s spinner."""
    result = await start_advanced(hass)
    sandbox.latency = 30
    with patch("custom_components.flatpeak.flow_validation.VALIDATION_TIMEOUT", 0.05):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials(sandbox)
        )
    assert result["errors"] == {"base": "timeout"}
    sandbox.latency = 0
    await finish_user_flow(hass, sandbox, result)


def test_validation_timeout_is_under_ten_seconds() -> None:
    assert VALIDATION_TIMEOUT <= 10


async def test_already_configured(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    result = await start_advanced(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox)
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_several_devices_allowed(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, config_entry: MockConfigEntry
) -> None:
    config_entry.add_to_hass(hass)
    sandbox.add_device("dev_second", reference_id="garage")
    result = await start_advanced(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox, **{CONF_DEVICE_ID: "dev_second"})
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Sandbox Energy Sandbox Battery 10 (garage)"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2


UNITLESS = "sensor.battery_level_fraction"


def without(mapping: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in mapping.items() if k not in keys}


@pytest.mark.parametrize(
    ("mapping", "errors"),
    [
        (
            {**MAPPING, CONF_SOC_ENTITY: "sensor.nothing"},
            {CONF_SOC_ENTITY: "entity_not_found"},
        ),
        ({**MAPPING, CONF_SOC_ENTITY: ENERGY}, {CONF_SOC_ENTITY: "not_a_percentage"}),
        (
            {**MAPPING, CONF_POWER_ENTITY: SOC},
            {CONF_POWER_ENTITY: "invalid_power_unit"},
        ),
        (
            {**MAPPING, CONF_ENERGY_ENTITY: POWER},
            {CONF_ENERGY_ENTITY: "invalid_energy_unit"},
        ),
        (
            without(MAPPING, CONF_TARGET_SOC_ENTITY),
            {CONF_TARGET_SOC_ENTITY: "target_required"},
        ),
        (
            {**MAPPING, CONF_TARGET_SOC_PERCENT: 80},
            {CONF_TARGET_SOC_ENTITY: "entity_or_value"},
        ),
        (
            {**MAPPING, CONF_RESERVE_ENTITY: RESERVE},
            {CONF_RESERVE_ENTITY: "entity_or_value"},
        ),
        (
            {**MAPPING, CONF_TARGET_SOC_ENTITY: POWER},
            {CONF_TARGET_SOC_ENTITY: "not_a_percentage"},
        ),
        (
            {**MAPPING, CONF_SOC_ENTITY: UNITLESS},
            {CONF_SOC_ENTITY: "not_a_percentage"},
        ),
        (
            {**MAPPING, CONF_TARGET_SOC_ENTITY: UNITLESS},
            {CONF_TARGET_SOC_ENTITY: "not_a_percentage"},
        ),
        (
            {
                **without(MAPPING, "backup_reserve_percent"),
                CONF_RESERVE_ENTITY: UNITLESS,
            },
            {CONF_RESERVE_ENTITY: "not_a_percentage"},
        ),
    ],
)
async def test_battery_step_rejects_unusable_mappings(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    mapping: dict[str, Any],
    errors: dict[str, str],
) -> None:
    # A battery sensor whose 0.55 may be a fraction: no unit, refused.
    hass.states.async_set(UNITLESS, "0.55", {"device_class": "battery"})
    result = await start_advanced(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox)
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], mapping)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "battery"
    assert result["errors"] == errors
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_battery_step_minimal_mapping_and_registry_units(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, entity_registry: er.EntityRegistry
) -> None:
    # An entity with no state yet is checked by its registry unit.
    entity_registry.async_get_or_create(
        "sensor",
        "demo",
        "power-1",
        suggested_object_id="inverter_power",
        unit_of_measurement="kW",
    )
    result = await start_advanced(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox)
    )
    mapping = {
        CONF_SOC_ENTITY: SOC,
        CONF_TARGET_SOC_PERCENT: 90,
        CONF_POWER_ENTITY: "sensor.inverter_power",
        CONF_RESERVE_ENTITY: RESERVE,
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], mapping)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_TARGET_SOC_PERCENT] == 90
    assert result["options"]["battery_power_sign"] == "positive_discharging"


@pytest.mark.parametrize(
    ("url", "safe"),
    [
        ("https://api.flatpeak.com", True),
        ("https://staging.example.com:8443/v1", True),
        ("http://127.0.0.1:8765", True),
        ("http://localhost:8765", True),
        ("http://[::1]:8765", True),
        ("http://api.flatpeak.com", False),
        ("http://10.0.0.2", False),
        ("https://user:pass@api.flatpeak.com", False),
        ("https://api.flatpeak.com/?token=1", False),
        ("api.flatpeak.com", False),
        ("https://", False),
        ("http://[::1", False),
    ],
)
def test_api_url_is_safe(url: str, safe: bool) -> None:
    assert api_url_is_safe(url) is safe


def options_input(options: dict[str, Any]) -> dict[str, Any]:
    """Return what the options form sends: behaviour options sit in sections."""
    data = dict(options)
    submission = {
        key: data.pop(key)
        for key in (CONF_SUBMIT_ON_CHANGE, CONF_MIN_INTERVAL, CONF_HEARTBEAT_INTERVAL)
    }
    outbox = {
        key: data.pop(key) for key in (CONF_OUTBOX_MAX_AGE, CONF_OUTBOX_MAX_RECORDS)
    }
    return {**data, SECTION_SUBMISSION: submission, SECTION_OUTBOX: outbox}


async def test_options_flow(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    # No battery device and no Energy dashboard: the entities form opens directly.
    assert result["step_id"] == "battery"
    # Battery entities at the top (each field shows its own error), then sections.
    schema = {str(key): value for key, value in result["data_schema"].schema.items()}
    assert set(schema) == {
        *MAPPING_SCHEMA.schema,
        CONF_ADD_BATTERY,
        SECTION_SUBMISSION,
        SECTION_OUTBOX,
    }
    assert schema[SECTION_SUBMISSION].options == {"collapsed": False}
    assert schema[SECTION_OUTBOX].options == {"collapsed": True}
    # Pre-filled with the stored options, sections included.
    assert suggestions(result)[CONF_SOC_ENTITY] == SOC
    submission = {
        str(key): (key.description or {}).get("suggested_value")
        for key in schema[SECTION_SUBMISSION].schema.schema
    }
    assert submission[CONF_MIN_INTERVAL] == BEHAVIOUR[CONF_MIN_INTERVAL]
    new = {**without(MAPPING, CONF_POWER_ENTITY), **BEHAVIOUR, CONF_MIN_INTERVAL: 60.0}
    bad = {**new, CONF_ENERGY_ENTITY: SOC}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options_input(bad)
    )
    assert result["errors"] == {CONF_ENERGY_ENTITY: "invalid_energy_unit"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], options_input(new)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await settle(hass)
    assert init_integration.options == {**new, CONF_MIN_INTERVAL: 60, **FROM_ENTITIES}
    assert isinstance(init_integration.options[CONF_MIN_INTERVAL], int)
    # Saving reloaded the entry: the new coordinator uses the new options.
    coordinator = init_integration.runtime_data
    assert coordinator.settings.min_interval.total_seconds() == 60
    assert coordinator.mapping.power_entity is None


async def test_reauth(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    sandbox.secret_key = "sk_test_rotated"
    result = await init_integration.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["account_id"] == sandbox.account_id
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SECRET_KEY: "sk_test_old"}
    )
    assert result["errors"] == {CONF_SECRET_KEY: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SECRET_KEY: " sk_test_rotated "}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_SECRET_KEY] == "sk_test_rotated"
    assert init_integration.data[CONF_DEVICE_ID] == DEFAULT_DEVICE_ID


async def test_reauth_succeeds_while_the_device_is_unknown(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Re-authentication is about the credentials: a device Flatpeak does not
    know must not block it; the reloaded entry raises the device repair."""
    sandbox.secret_key = "sk_test_rotated"
    sandbox.unknown_device = True
    result = await init_integration.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SECRET_KEY: "sk_test_rotated"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_SECRET_KEY] == "sk_test_rotated"
    await hass.async_block_till_done()
    assert issue_registry.async_get_issue(
        DOMAIN, f"device_not_found_{init_integration.entry_id}"
    )


async def test_reauth_empty_secret_tries_the_stored_one(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    stored = init_integration.data[CONF_SECRET_KEY]
    sandbox.secret_key = "sk_test_rotated"
    result = await init_integration.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["errors"] == {CONF_SECRET_KEY: "invalid_auth"}
    # Flatpeak accepts the stored key again (e.g. it was refused by mistake).
    sandbox.secret_key = stored
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SECRET_KEY: ""}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_SECRET_KEY] == stored


async def test_reconfigure_to_another_device_aborts(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    """An entry stays with its device: another device is a new entry."""
    sandbox.add_device("dev_new", reference_id="new-battery")
    before = dict(init_integration.data)
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    suggested = suggestions(result)
    assert suggested[CONF_ACCOUNT_ID] == sandbox.account_id
    assert suggested[CONF_DEVICE_ID] == DEFAULT_DEVICE_ID
    assert suggested[CONF_SECRET_KEY] is None  # the stored key never reaches the form
    assert suggested[SECTION_ADVANCED] == {CONF_API_URL: sandbox.url}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox, **{CONF_DEVICE_ID: "dev_missing"})
    )
    assert result["errors"] == {CONF_DEVICE_ID: "device_not_found"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox, **{CONF_DEVICE_ID: "dev_new"})
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "another_device"
    assert result["description_placeholders"] == {"device_id": DEFAULT_DEVICE_ID}
    assert init_integration.unique_id == DEFAULT_DEVICE_ID
    assert dict(init_integration.data) == before


async def test_reconfigure_same_device_keeps_title_and_stored_secret(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    make_sandbox: SandboxFactory,
    init_integration: MockConfigEntry,
) -> None:
    hass.config_entries.async_update_entry(init_integration, title="Garage battery")
    stored = init_integration.data[CONF_SECRET_KEY]
    # The same account and device behind another URL; the secret key left empty.
    other_url = (await make_sandbox()).url
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        credentials(sandbox, **{CONF_SECRET_KEY: "", CONF_API_URL: other_url}),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.title == "Garage battery"
    assert init_integration.data == entry_data(
        sandbox, **{CONF_SECRET_KEY: stored, CONF_API_URL: other_url}
    )
    await settle(hass)
    assert init_integration.runtime_data.client.base_url == other_url


async def test_reconfigure_new_secret_kept_after_an_error(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    sandbox.secret_key = "sk_test_new"
    result = await init_integration.start_reconfigure_flow(hass)
    sandbox.fail_next(404, endpoint="token")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox)
    )
    assert result["errors"] == {SECTION_ADVANCED: "wrong_api_url"}
    assert advanced_section(result).options == {"collapsed": False}
    assert suggestions(result)[CONF_SECRET_KEY] == "sk_test_new"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox)
    )
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data[CONF_SECRET_KEY] == "sk_test_new"


async def test_reconfigure_to_a_configured_device_aborts(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    sandbox.add_device("dev_other")
    MockConfigEntry(domain=DOMAIN, unique_id="dev_other", data={}).add_to_hass(hass)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox, **{CONF_DEVICE_ID: "dev_other"})
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "another_device"
    assert init_integration.unique_id == DEFAULT_DEVICE_ID
    assert init_integration.data[CONF_DEVICE_ID] == DEFAULT_DEVICE_ID
