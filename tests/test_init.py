"""Setting up, unloading and removing an entry; the device; diagnostics."""

import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flatpeak.const import DOMAIN
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from .conftest import advance, set_soc, settle, shown, state_of

pytestmark = pytest.mark.usefixtures("battery")


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)


async def test_setup_and_device(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    await setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    [device] = dr.async_entries_for_config_entry(device_registry, config_entry.entry_id)
    assert device.identifiers == {(DOMAIN, DEFAULT_DEVICE_ID)}
    assert device.manufacturer == "Flatpeak"
    assert device.model == "Sandbox Energy Sandbox Battery 10"
    assert device.name == "Flatpeak battery"
    assert device.serial_number == DEFAULT_DEVICE_ID
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert state_of(hass, "api_connection", "binary_sensor") == "on"
    assert state_of(hass, "queued_records") == "0"


async def test_setup_with_refused_credentials_keeps_queuing(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    sandbox.reject_credentials = True
    await setup(hass, config_entry)
    # Loaded, asking for re-authentication, and recording meanwhile.
    assert config_entry.state is ConfigEntryState.LOADED
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    assert state_of(hass, "submission_status") == "auth_failed"
    assert state_of(hass, "last_error") == "auth_failed"
    token_requests = len(sandbox.requests_to("token"))
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert len(config_entry.runtime_data.outbox) == 2  # the start snapshot + 61
    assert state_of(hass, "queued_records") == "2"
    assert len(sandbox.requests_to("token")) == token_requests  # paused
    # A snapshot that cannot be taken does not hide the pause.
    hass.states.async_set("sensor.battery_soc", "unavailable")
    await advance(hass, freezer, 31)
    assert state_of(hass, "submission_status") == "auth_failed"
    assert state_of(hass, "last_error") == "auth_failed"


async def test_setup_with_a_garbled_answer_is_an_outage(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    # A Retry-After the client cannot read; then the next answer is fine.
    sandbox.fail_next(503, 2, endpoint="token", retry_after="\u00b2")
    await setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    assert len(config_entry.runtime_data.outbox) == 1
    assert state_of(hass, "last_error") in ("server_error", "unexpected_response")
    await advance(hass, freezer, 600)
    assert sandbox.states()
    await shown(hass, freezer)
    assert state_of(hass, "queued_records") == "0"
    assert state_of(hass, "submission_status") == "ok"


async def test_last_submission_survives_reload_and_restart(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    await setup(hass, config_entry)
    last = state_of(hass, "last_submission")
    assert last not in ("unknown", "unavailable")
    await sandbox.stop()  # the reload's start snapshot cannot be delivered
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await settle(hass)
    assert state_of(hass, "last_submission") == last
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    assert diagnostics["status"]["last_record"]["device_id"] == DEFAULT_DEVICE_ID
    assert diagnostics["status"]["last_body"]["state_of_charge_percent"] == 55


async def test_setup_while_flatpeak_is_down(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, config_entry: MockConfigEntry
) -> None:
    await sandbox.stop()
    await setup(hass, config_entry)
    # Loaded anyway: states are recorded and queued until Flatpeak is back.
    assert config_entry.state is ConfigEntryState.LOADED
    # The start snapshot is queued; the connection is known to be down.
    assert len(config_entry.runtime_data.outbox) == 1
    assert state_of(hass, "api_connection", "binary_sensor") == "off"
    assert state_of(hass, "last_error") == "cannot_connect"
    await hass.services.async_call(DOMAIN, "submit_device_state", {}, blocking=False)
    await settle(hass)
    assert len(config_entry.runtime_data.outbox) == 2


async def test_setup_device_not_found(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    await setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    issue = issue_registry.async_get_issue(
        DOMAIN, f"device_not_found_{config_entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_placeholders == {
        "device_id": DEFAULT_DEVICE_ID,
        "title": config_entry.title,
    }
    assert state_of(hass, "submission_status") == "error"
    # The device is back: a reload clears the issue.
    sandbox.add_device(DEFAULT_DEVICE_ID)
    assert await hass.config_entries.async_reload(config_entry.entry_id)
    await settle(hass)
    assert (
        issue_registry.async_get_issue(
            DOMAIN, f"device_not_found_{config_entry.entry_id}"
        )
        is None
    )


async def test_remove_entry_deletes_the_outbox(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    await setup(hass, config_entry)
    await sandbox.stop()
    await hass.services.async_call(DOMAIN, "submit_device_state", {}, blocking=False)
    await settle(hass)
    assert await hass.config_entries.async_unload(config_entry.entry_id)
    journal = Path(
        hass.config.path(".storage", f"{DOMAIN}.{config_entry.entry_id}.outbox.jsonl")
    )
    assert (await hass.async_add_executor_job(journal.read_bytes)).count(b'"r":') == 1
    kept = journal.with_name(f"{journal.name}.unreadable-1")  # after a read error
    await hass.async_add_executor_job(kept.write_bytes, b"unreadable once")
    await hass.config_entries.async_remove(config_entry.entry_id)
    await settle(hass)
    assert not journal.exists()
    assert not kept.exists()
    assert f"{DOMAIN}.{config_entry.entry_id}.last" not in hass_storage


async def test_diagnostics_redact_secrets(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    hass_client: ClientSessionGenerator,
) -> None:
    await setup(hass, config_entry)
    await hass.services.async_call(DOMAIN, "submit_device_state", {}, blocking=True)
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    text = json.dumps(diagnostics)
    assert sandbox.secret_key not in text
    assert sandbox.account_id not in text
    assert diagnostics["entry"]["data"]["secret_key"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["account_id"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["device_id"] == DEFAULT_DEVICE_ID
    assert diagnostics["status"]["status"] == "ok"
    assert diagnostics["status"]["last_record"]["account_id"] == "**REDACTED**"
    assert diagnostics["status"]["last_body"] == sandbox.states()[-1]
    assert diagnostics["status"]["last_error"] == "none"
    assert diagnostics["sender"] == "idle"
    assert diagnostics["mapping"]["soc_entity"] == "sensor.battery_soc"
    assert diagnostics["outbox"] == {
        "queued": 0,
        "dropped": 0,
        "rejected": 0,
        "oldest": None,
    }
    assert diagnostics["device"]["id"] == DEFAULT_DEVICE_ID


async def test_setup_refuses_an_insecure_url(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, config_entry: MockConfigEntry
) -> None:
    port = sandbox.port
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=DEFAULT_DEVICE_ID,
        data={**config_entry.data, "api_url": f"http://192.0.2.1:{port}"},
        options=config_entry.options,
    )
    await setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    assert config_entry.reason is not None
    assert "clear text" in config_entry.reason
    assert sandbox.requests == []
