"""Every branch of the account's flows (first run, reauth, reconfigure), live against the sandbox.

The device subentry flow (add a device, change it) is in test_device_flow.py.
"""

from typing import Any
from unittest.mock import patch

from homeassistant import config_entries
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import paths, props
from yarl import URL

from custom_components.flatpeak.api import api_url_is_safe
from custom_components.flatpeak.const import (
    CONF_ACCOUNT_ID,
    CONF_API_URL,
    CONF_ENERGY_ENTITY,
    CONF_POWER_ENTITY,
    CONF_RESERVE_ENTITY,
    CONF_SECRET_KEY,
    CONF_SOC_ENTITY,
    CONF_TARGET_SOC_ENTITY,
    CONF_TARGET_SOC_PERCENT,
    DOMAIN,
)
from custom_components.flatpeak.flows.schemas import SECTION_ADVANCED
from custom_components.flatpeak.flows.validation import VALIDATION_TIMEOUT
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from ..conftest import (
    BEHAVIOUR,
    DEVICE_TITLE,
    ENERGY,
    FROM_ENTITIES,
    MAPPING,
    POWER,
    RESERVE,
    SECOND,
    SOC,
    SUBENTRY_ID,
    SandboxFactory,
    forget_received,
    settle,
)

pytestmark = pytest.mark.usefixtures("battery")

# What the flow result's snapshot leaves out: what varies from run to run
# (the sandbox's URL is part of the account's unique ID).
IGNORED = props("flow_id", "entry_id", "result", "api_url", "created_at")
ACCOUNT_UNIQUE_ID = paths("context.unique_id")


def entry_data(sandbox: FlatpeakSandbox, **changes: str) -> dict[str, str]:
    return {
        CONF_ACCOUNT_ID: sandbox.account_id,
        CONF_SECRET_KEY: sandbox.secret_key,
        CONF_API_URL: sandbox.url,
        **changes,
    }


def credentials(sandbox: FlatpeakSandbox, **changes: str) -> dict[str, Any]:
    """Return what the user step's form sends: the API URL sits in its section."""
    data: dict[str, Any] = entry_data(sandbox, **changes)
    data[SECTION_ADVANCED] = {CONF_API_URL: data.pop(CONF_API_URL)}
    return data


async def to_battery_step(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> dict[str, Any]:
    """Start the first run and pass the credentials and device steps."""
    result = await to_device_step(hass, sandbox)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: DEFAULT_DEVICE_ID}
    )
    assert result["step_id"] == "battery"
    return result


async def to_device_step(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, **changes: str
) -> dict[str, Any]:
    """Start the first run and pass the credentials step."""
    result = await start_advanced(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox, **changes)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "device", result.get("errors")
    return result


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
    # The credentials are checked live (a token), then the first device.
    assert [r.endpoint for r in sandbox.requests] == ["token"]
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "device"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: f" {DEFAULT_DEVICE_ID}\t"}
    )
    assert [r.endpoint for r in sandbox.requests][1:] == ["token", "device"]
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "battery"
    assert result["errors"] == {}
    assert result["description_placeholders"] == {"title": DEVICE_TITLE}
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == f"Flatpeak {sandbox.account_id}"
    assert result["data"] == entry_data(sandbox)
    assert result["options"] == {}
    entry = result["result"]
    assert entry.version == 2
    assert entry.unique_id == f"{sandbox.account_id}@{sandbox.url}"
    [subentry] = entry.subentries.values()
    assert subentry.subentry_type == "device"
    assert subentry.unique_id == DEFAULT_DEVICE_ID
    assert subentry.title == DEVICE_TITLE
    assert dict(subentry.data) == {
        CONF_DEVICE_ID: DEFAULT_DEVICE_ID,
        **MAPPING,
        **BEHAVIOUR,
        **FROM_ENTITIES,
    }
    # The whole result, as core's flow tests keep it (the sandbox's URL varies).
    assert result == snapshot(
        exclude=lambda prop, path: (
            IGNORED(prop=prop, path=path) or ACCOUNT_UNIQUE_ID(prop=prop, path=path)
        )
    )
    # Loaded: the device runs.
    await settle(hass)
    assert len(sandbox.states()) == 1


async def test_api_url_defaults_to_flatpeak(hass: HomeAssistant) -> None:
    result = await start_advanced(hass)
    section = advanced_section(result)
    assert section.schema({}) == {CONF_API_URL: "https://api.flatpeak.com"}
    assert section.options == {"collapsed": True}


@pytest.mark.parametrize(
    ("setup", "changes", "errors"),
    [
        (None, {CONF_SECRET_KEY: "sk_test_wrong"}, {CONF_SECRET_KEY: "invalid_auth"}),
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
        (None, {CONF_ACCOUNT_ID: "acc one"}, {CONF_ACCOUNT_ID: "invalid_account_id"}),
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
    assert suggested[CONF_SECRET_KEY] == (
        None if CONF_SECRET_KEY in errors else typed[CONF_SECRET_KEY]
    )
    assert suggested[SECTION_ADVANCED] == typed[SECTION_ADVANCED]
    # The section opens when its field has the error, or when the error asks
    # to check the API URL.
    url_error = SECTION_ADVANCED in errors or errors.get("base") in (
        "cannot_connect",
        "timeout",
    )
    assert advanced_section(result).options == {"collapsed": not url_error}
    await finish_user_flow(hass, sandbox, result)


async def finish_user_flow(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, result: dict[str, Any]
) -> None:
    """Recover: valid credentials, the device, then the mapping: the entry."""
    if result["step_id"] == "user":
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials(sandbox)
        )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: DEFAULT_DEVICE_ID}
    )
    assert result["step_id"] == "battery"
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    [subentry] = result["result"].subentries.values()
    assert subentry.unique_id == DEFAULT_DEVICE_ID


@pytest.mark.parametrize(
    ("setup", "device_id", "errors"),
    [
        (None, "dev_unknown", {CONF_DEVICE_ID: "device_not_found"}),
        (None, "dev_x/../../auth/tokens", {CONF_DEVICE_ID: "invalid_device_id"}),
        (None, "dev_x?y=1", {CONF_DEVICE_ID: "invalid_device_id"}),
        (None, "x", {CONF_DEVICE_ID: "invalid_device_id"}),
        ("device:409", DEFAULT_DEVICE_ID, {"base": "unknown"}),
        ("device:503", DEFAULT_DEVICE_ID, {"base": "cannot_connect"}),
        ("token:429", DEFAULT_DEVICE_ID, {"base": "rate_limited"}),
    ],
)
async def test_device_step_errors_then_recovery(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    setup: str | None,
    device_id: str,
    errors: dict[str, str],
) -> None:
    result = await to_device_step(hass, sandbox)
    if setup:
        endpoint, status = setup.split(":")
        sandbox.fail_next(int(status), endpoint=endpoint)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: device_id}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "device"
    assert result["errors"] == errors
    # What was typed stays.
    assert suggestions(result)[CONF_DEVICE_ID] == device_id
    await finish_user_flow(hass, sandbox, result)


async def test_a_device_of_another_account_entry_is_an_error_on_its_field(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    make_sandbox: SandboxFactory,
    config_entry: MockConfigEntry,
) -> None:
    """The same device behind another URL (another account entry): refused."""
    config_entry.add_to_hass(hass)
    other = await make_other_sandbox_account(make_sandbox, sandbox)
    result = await to_device_step(hass, sandbox, **{CONF_API_URL: other.url})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: DEFAULT_DEVICE_ID}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_DEVICE_ID: "device_already_configured"}
    assert result["description_placeholders"] == {"account": config_entry.title}
    assert suggestions(result)[CONF_DEVICE_ID] == DEFAULT_DEVICE_ID


async def make_other_sandbox_account(
    make_sandbox: SandboxFactory, sandbox: FlatpeakSandbox
) -> FlatpeakSandbox:
    """Serve the same account (and its device) at another URL."""
    return await make_sandbox(account_id=sandbox.account_id)


async def test_ids_are_trimmed(hass: HomeAssistant, sandbox: FlatpeakSandbox) -> None:
    result = await to_device_step(
        hass, sandbox, **{CONF_SECRET_KEY: f" {sandbox.secret_key}\n"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: f"\t{DEFAULT_DEVICE_ID} "}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == entry_data(sandbox)
    [subentry] = result["result"].subentries.values()
    assert subentry.data[CONF_DEVICE_ID] == DEFAULT_DEVICE_ID


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
    with patch("custom_components.flatpeak.flows.validation.VALIDATION_TIMEOUT", 0.05):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], credentials(sandbox)
        )
    assert result["errors"] == {"base": "timeout"}
    sandbox.latency = 0
    await finish_user_flow(hass, sandbox, result)


def test_validation_timeout_is_under_ten_seconds() -> None:
    assert VALIDATION_TIMEOUT <= 10


async def test_an_account_already_set_up_is_an_error_on_its_field(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, config_entry: MockConfigEntry
) -> None:
    """Never an abort that loses what was typed: the form says where to go."""
    config_entry.add_to_hass(hass)
    result = await start_advanced(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ACCOUNT_ID: "account_already_configured"}
    assert suggestions(result)[CONF_SECRET_KEY] == sandbox.secret_key
    assert sandbox.requests == []  # refused before asking Flatpeak


async def test_the_same_account_at_another_url_is_another_account(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    make_sandbox: SandboxFactory,
    config_entry: MockConfigEntry,
) -> None:
    config_entry.add_to_hass(hass)
    other = await make_other_sandbox_account(make_sandbox, sandbox)
    other.add_device("dev_staging")
    result = await to_device_step(hass, sandbox, **{CONF_API_URL: other.url})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: "dev_staging"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == f"{sandbox.account_id}@{other.url}"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 2


async def test_device_title_is_what_flatpeak_says(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    """Manufacturer and model, else the reference, else the device ID."""
    sandbox.add_device("dev_ref", manufacturer=None, model=None)
    sandbox.add_device("dev_bare", manufacturer=None, model=None, reference_id=None)
    for device_id, title in (("dev_ref", "battery-_ref"), ("dev_bare", "dev_bare")):
        result = await to_device_step(hass, sandbox)
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_DEVICE_ID: device_id}
        )
        assert result["description_placeholders"] == {"title": title}
        hass.config_entries.flow.async_abort(result["flow_id"])


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
    result = await to_battery_step(hass, sandbox)
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
    result = await to_battery_step(hass, sandbox)
    mapping = {
        CONF_SOC_ENTITY: SOC,
        CONF_TARGET_SOC_PERCENT: 90,
        CONF_POWER_ENTITY: "sensor.inverter_power",
        CONF_RESERVE_ENTITY: RESERVE,
    }
    result = await hass.config_entries.flow.async_configure(result["flow_id"], mapping)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    [subentry] = result["result"].subentries.values()
    assert subentry.data[CONF_TARGET_SOC_PERCENT] == 90
    assert subentry.data["battery_power_sign"] == "positive_discharging"


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


async def test_reauth(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    sandbox.secret_key = "sk_test_rotated"
    result = await init_integration.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    assert result["description_placeholders"]["account_id"] == sandbox.account_id
    assert result["description_placeholders"]["devices"] == DEVICE_TITLE
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SECRET_KEY: "sk_test_old"}
    )
    assert result["errors"] == {CONF_SECRET_KEY: "invalid_auth"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SECRET_KEY: " sk_test_rotated "}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data == entry_data(
        sandbox, **{CONF_SECRET_KEY: "sk_test_rotated"}
    )
    await settle(hass)
    # Reloaded with the new key: the device's start snapshot is delivered.
    assert init_integration.state is ConfigEntryState.LOADED
    assert len(sandbox.states()) == 1


async def test_reauth_succeeds_while_the_device_is_unknown(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Re-authentication is about the credentials: a device Flatpeak does not
    know must not block it; the reloaded account raises the device repair."""
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
    assert issue_registry.async_get_issue(DOMAIN, f"device_not_found_{SUBENTRY_ID}")


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
    forget_received(sandbox)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_SECRET_KEY: ""}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_SECRET_KEY] == stored
    # Nothing changed, yet the account reloaded (and so resumed).
    await settle(hass)
    assert sandbox.requests_to("device")


async def test_reconfigure_keeps_title_devices_and_stored_secret(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    make_sandbox: SandboxFactory,
    init_integration: MockConfigEntry,
) -> None:
    hass.config_entries.async_update_entry(init_integration, title="Home account")
    stored = init_integration.data[CONF_SECRET_KEY]
    # The same account and device behind another URL; the secret key left empty.
    other = await make_other_sandbox_account(make_sandbox, sandbox)
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    suggested = suggestions(result)
    assert suggested[CONF_ACCOUNT_ID] == sandbox.account_id
    assert suggested[CONF_SECRET_KEY] is None  # the stored key never reaches the form
    assert suggested[SECTION_ADVANCED] == {CONF_API_URL: sandbox.url}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        credentials(sandbox, **{CONF_SECRET_KEY: "", CONF_API_URL: other.url}),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.title == "Home account"
    assert init_integration.data == entry_data(
        sandbox, **{CONF_SECRET_KEY: stored, CONF_API_URL: other.url}
    )
    assert init_integration.unique_id == f"{sandbox.account_id}@{other.url}"
    assert [s.unique_id for s in init_integration.subentries.values()] == [
        DEFAULT_DEVICE_ID
    ]
    await settle(hass)
    assert init_integration.runtime_data.client.base_url == other.url
    assert len(other.states()) == 1  # the reloaded device's start snapshot


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
    await settle(hass)


async def test_reconfigure_checks_the_account_id(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox, **{CONF_ACCOUNT_ID: "acc one"})
    )
    assert result["errors"] == {CONF_ACCOUNT_ID: "invalid_account_id"}
    assert sandbox.requests == []


async def test_reconfigure_to_another_account_is_an_error_on_its_field(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> None:
    """The entry is its account: another account ID is a new entry."""
    before = dict(init_integration.data)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox, **{CONF_ACCOUNT_ID: "acc_other"})
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_ACCOUNT_ID: "another_account"}
    assert suggestions(result)[CONF_ACCOUNT_ID] == "acc_other"
    assert dict(init_integration.data) == before


async def test_reconfigure_onto_another_entrys_account_is_refused(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    make_sandbox: SandboxFactory,
    init_integration: MockConfigEntry,
) -> None:
    """Moving to the URL where another entry has the same account: refused."""
    other = await make_other_sandbox_account(make_sandbox, sandbox)
    MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id=f"{sandbox.account_id}@{other.url}",
        data=entry_data(sandbox, **{CONF_API_URL: other.url}),
    ).add_to_hass(hass)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox, **{CONF_API_URL: other.url})
    )
    assert result["errors"] == {SECTION_ADVANCED: "account_already_configured"}
    assert advanced_section(result).options == {"collapsed": False}
    assert init_integration.data[CONF_API_URL] == sandbox.url


async def test_reconfigure_repairs_an_entry_that_failed_to_set_up(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, config_entry: MockConfigEntry
) -> None:
    """An entry that is not loaded has no update listener: reconfigure reloads it."""
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        data={**config_entry.data, CONF_API_URL: f"http://192.0.2.1:{sandbox.port}"},
    )
    await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    result = await config_entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], credentials(sandbox)
    )
    assert result["reason"] == "reconfigure_successful"
    await settle(hass)
    assert config_entry.state is ConfigEntryState.LOADED


async def add_account(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, device_id: str
) -> MockConfigEntry:
    """Walk the first run (credentials, device, mapping) against ``sandbox``."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_ACCOUNT_ID: sandbox.account_id,
            CONF_SECRET_KEY: sandbox.secret_key,
            SECTION_ADVANCED: {CONF_API_URL: sandbox.url},
        },
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: device_id}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry: MockConfigEntry = result["result"]
    return entry


@pytest.mark.usefixtures("battery", "at_start")
async def test_two_accounts_of_one_account_id_have_different_titles(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, make_sandbox: Any
) -> None:
    """The README supports the same account ID at another API URL (a staging
    endpoint) as another account. The issue's point was that a user must tell
    things apart: two entries of the same title cannot be."""
    staging = await make_sandbox(account_id=sandbox.account_id, device_ids=(SECOND,))
    production = await add_account(hass, sandbox, DEFAULT_DEVICE_ID)
    other = await add_account(hass, staging, SECOND)
    assert production.unique_id != other.unique_id
    assert production.title != other.title
    # The first keeps the plain title; the second names its API URL's host.
    assert production.title == f"Flatpeak {sandbox.account_id}"
    assert (
        other.title
        == f"Flatpeak {sandbox.account_id} ({URL(staging.url).raw_authority})"
    )
