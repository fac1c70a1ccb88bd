"""Setting up, unloading and removing an account and its devices."""

import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flatpeak.account.registry_compat import belongs_to
from custom_components.flatpeak.const import DOMAIN
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from ..conftest import (
    BEHAVIOUR,
    DEVICE_TITLE,
    MAPPING,
    SECOND,
    SECOND_SUBENTRY,
    SUBENTRY_ID,
    account_data,
    advance,
    battery_devices,
    device_entry,
    device_subentry_data,
    runtime_of,
    set_soc,
    settle,
    shown,
    state_of,
)

pytestmark = pytest.mark.usefixtures("battery")


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)


def two_devices(
    sandbox: FlatpeakSandbox, second_mapping: dict[str, Any] | None = None
) -> MockConfigEntry:
    """Return an account entry with the default device and a second one."""
    sandbox.add_device(SECOND, manufacturer="Acme Storage", model="Home 13.5")
    return MockConfigEntry(
        domain=DOMAIN,
        version=2,
        title="Flatpeak",
        unique_id=sandbox.account_id,
        data=account_data(sandbox),
        subentries_data=[
            device_subentry_data(
                DEFAULT_DEVICE_ID, {**MAPPING, **BEHAVIOUR}, subentry_id=SUBENTRY_ID
            ),
            device_subentry_data(
                SECOND,
                {**(second_mapping or MAPPING), **BEHAVIOUR},
                subentry_id=SECOND_SUBENTRY,
                title="Acme Storage Home 13.5",
            ),
        ],
    )


def journal(hass: HomeAssistant, storage_id: str) -> Path:
    return Path(hass.config.path(".storage", f"{DOMAIN}.{storage_id}.outbox.jsonl"))


async def test_setup_and_device(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    await setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    [device] = battery_devices(hass, config_entry)
    assert device.identifiers == {(DOMAIN, DEFAULT_DEVICE_ID)}
    assert belongs_to(device, config_entry.entry_id, SUBENTRY_ID)
    assert device.manufacturer == "Flatpeak"
    assert device.model == "Sandbox Energy Sandbox Battery 10"
    # Named like its subentry: what Flatpeak says of the device.
    assert device.name == DEVICE_TITLE
    assert device.serial_number == DEFAULT_DEVICE_ID
    assert device.entry_type is None  # a battery, not a service
    assert state_of(hass, "api_connection", "binary_sensor") == "on"
    assert state_of(hass, "queued_records") == "0"


async def test_two_devices_one_token_distinct_names(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    entry = two_devices(sandbox)
    await setup(hass, entry)
    # One client, one token for the account; both devices looked up and started.
    assert len(sandbox.requests_to("token")) == 1
    assert len(sandbox.states(DEFAULT_DEVICE_ID)) == 1
    assert len(sandbox.states(SECOND)) == 1
    devices = battery_devices(hass, entry)
    assert {d.name for d in devices} == {DEVICE_TITLE, "Acme Storage Home 13.5"}
    by_subentry = {
        subentry: {
            e.entity_id
            for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
            if e.config_subentry_id == subentry
        }
        for subentry in (SUBENTRY_ID, SECOND_SUBENTRY)
    }
    assert (
        "sensor.sandbox_energy_sandbox_battery_10_submission_status"
        in (by_subentry[SUBENTRY_ID])
    )
    assert (
        "sensor.acme_storage_home_13_5_submission_status"
        in (by_subentry[SECOND_SUBENTRY])
    )
    # 9 of its own, 4 of what Flatpeak holds (state, VPP participation, flags).
    assert len(by_subentry[SUBENTRY_ID]) == len(by_subentry[SECOND_SUBENTRY]) == 14


@pytest.mark.usefixtures("at_start")  # a heartbeat would add a record
async def test_refused_credentials_pause_every_device_and_reauth_once(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    entry = two_devices(sandbox)
    await setup(hass, entry)
    sandbox.set_reject_credentials(True)
    set_soc(hass, 61)
    await advance(hass, freezer, 31)
    # Both devices paused (the second without a request of its own); one reauth.
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    for subentry_id in (SUBENTRY_ID, SECOND_SUBENTRY):
        runtime = entry.runtime_data.devices[subentry_id]
        assert runtime.status.current.status == "auth_failed"
    assert state_of(hass, "submission_status") == "auth_failed"
    # The log lines name the device.
    assert f"[{DEVICE_TITLE}] Submissions to Flatpeak paused" in caplog.text
    assert "[Acme Storage Home 13.5] Submissions to Flatpeak paused" in caplog.text
    # Re-authenticating once resumes both; what they queued is delivered.
    sandbox.set_reject_credentials(False)
    result = await hass.config_entries.flow.async_configure(flows[0]["flow_id"], {})
    assert result["reason"] == "reauth_successful"
    await settle(hass)
    await advance(hass, freezer, 1)
    assert [s["state_of_charge_percent"] for s in sandbox.states()][-1] == 61
    assert not runtime_of_subentry(entry, SECOND_SUBENTRY).outbox
    assert not runtime_of_subentry(entry, SUBENTRY_ID).outbox


@pytest.mark.usefixtures("at_start")  # no heartbeat in the way
async def test_refused_credentials_pause_an_idle_device_too(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    """The second device has nothing to send: it is paused by the account, not
    by an answer of its own, and sends nothing until the re-authentication."""
    hass.states.async_set(
        "sensor.second_soc",
        "40",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    entry = two_devices(
        sandbox,
        second_mapping={**MAPPING, "state_of_charge_entity": "sensor.second_soc"},
    )
    await setup(hass, entry)
    second = runtime_of_subentry(entry, SECOND_SUBENTRY)
    sandbox.set_reject_credentials(True)
    requests = len(sandbox.requests)
    set_soc(hass, 61)  # only the first device's state changes
    await advance(hass, freezer, 31)
    assert second.sender.state == "paused"
    assert second.status.current.status == "auth_failed"
    # Only the first device asked Flatpeak (a token, refused).
    assert all(SECOND not in r.path for r in sandbox.requests[requests:])
    assert [
        f["context"]["source"] for f in hass.config_entries.flow.async_progress()
    ] == ["reauth"]


@pytest.mark.usefixtures("at_start")
async def test_the_account_tries_the_credentials_again_once_an_hour(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    """One check for the account (one token request an hour, not one per
    device); when it passes, every device resumes and the request is withdrawn."""
    entry = two_devices(sandbox)
    await setup(hass, entry)
    sandbox.set_reject_credentials(True)
    set_soc(hass, 61)
    await advance(hass, freezer, 31)
    tokens = len(sandbox.requests_to("token"))
    await advance(hass, freezer, 3600)
    assert len(sandbox.requests_to("token")) == tokens + 1
    sandbox.set_reject_credentials(False)
    await advance(hass, freezer, 3600)
    await advance(hass, freezer, 31)  # the backlog follows the current state
    for device_id in (DEFAULT_DEVICE_ID, SECOND):
        assert 61 in [s["state_of_charge_percent"] for s in sandbox.states(device_id)]
    for runtime in entry.runtime_data.devices.values():
        assert runtime.sender.state == "idle"
        assert not runtime.outbox
    assert hass.config_entries.flow.async_progress() == []
    assert entry.runtime_data.credentials_refused_verdict is None


def runtime_of_subentry(entry: MockConfigEntry, subentry_id: str) -> Any:
    return entry.runtime_data.devices[subentry_id]


async def test_setup_with_refused_credentials_fails_and_asks_for_reauth(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
) -> None:
    """test-before-setup: the token is asked for first; refused, the setup fails."""
    sandbox.reject_credentials = True
    entry = two_devices(sandbox)
    await setup(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert (
        entry.reason
        == (
            "Flatpeak refuses the account's credentials: re-authenticate the account. "
            "The records its devices queued are kept and delivered afterwards"  # HA drops the "."
        )
    )
    assert [
        f["context"]["source"] for f in hass.config_entries.flow.async_progress()
    ] == ["reauth"]
    # One token request for the whole account, no device looked up.
    assert [r.endpoint for r in sandbox.requests] == ["token"]


@pytest.mark.usefixtures("at_start")  # a heartbeat would add a record
async def test_records_queued_before_a_refused_restart_are_delivered_once_after_reauth(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Nothing queued is lost while the setup waits for new credentials."""
    entry = two_devices(sandbox)
    await setup(hass, entry)
    await sandbox.stop()  # an outage: both devices queue
    set_soc(hass, 61)
    await advance(hass, freezer, 31)
    set_soc(hass, 62)
    await advance(hass, freezer, 31)
    queued = {
        subentry_id: [state.record_reference_id for state in runtime.outbox]
        for subentry_id, runtime in entry.runtime_data.devices.items()
    }
    assert all(len(ids) >= 2 for ids in queued.values())
    delivered = len(sandbox.requests_to("state"))
    # Home Assistant restarts (the outboxes are flushed) after the key was revoked.
    assert await hass.config_entries.async_unload(entry.entry_id)
    sandbox.secret_key = "sk_test_rotated"
    await sandbox.start()
    assert await hass.config_entries.async_setup(entry.entry_id) is False
    await settle(hass)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert len(sandbox.requests_to("state")) == delivered
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    # The user re-authenticates with the new key: the entry is set up again.
    result = await hass.config_entries.flow.async_configure(
        flows[0]["flow_id"], {"secret_key": "sk_test_rotated"}
    )
    assert result["reason"] == "reauth_successful"
    await settle(hass)
    assert entry.state is ConfigEntryState.LOADED
    await advance(hass, freezer, 600)
    for device_id, subentry_id in (
        (DEFAULT_DEVICE_ID, SUBENTRY_ID),
        (SECOND, SECOND_SUBENTRY),
    ):
        sent = [s["record_reference_id"] for s in sandbox.states(device_id)]
        assert len(sent) == len(set(sent))  # none twice
        assert set(queued[subentry_id]) <= set(sent)  # none lost
        assert not entry.runtime_data.devices[subentry_id].outbox


async def test_setup_token_timeout_does_not_fail_the_setup(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The setup waits a bounded time for the token; an outage still loads it."""
    monkeypatch.setattr(
        "custom_components.flatpeak.account.device_setup.SETUP_TOKEN_TIMEOUT", 0.05
    )
    sandbox.latency = 0.5
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    assert config_entry.state is ConfigEntryState.LOADED
    # The timeout holds for the devices: none was looked up.
    assert [r.endpoint for r in sandbox.requests] == []
    assert runtime_of(config_entry).status.current.connected is not True


async def test_refused_credentials_while_running_keep_queuing(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await setup(hass, config_entry)
    sandbox.set_reject_credentials(True)
    set_soc(hass, 60)
    await advance(hass, freezer, 31)
    # Loaded, asking for re-authentication, and recording meanwhile.
    assert config_entry.state is ConfigEntryState.LOADED
    flows = hass.config_entries.flow.async_progress()
    assert [flow["context"]["source"] for flow in flows] == ["reauth"]
    assert state_of(hass, "submission_status") == "auth_failed"
    assert state_of(hass, "last_error") == "auth_failed"
    token_requests = len(sandbox.requests_to("token"))
    queued = len(runtime_of(config_entry).outbox)
    set_soc(hass, 61)
    await advance(hass, freezer, 31)
    assert len(runtime_of(config_entry).outbox) == queued + 1
    assert state_of(hass, "queued_records") == str(queued + 1)
    assert len(sandbox.requests_to("token")) == token_requests  # paused
    # A snapshot that cannot be taken does not hide the pause.
    hass.states.async_set("sensor.battery_soc", "unavailable")
    await advance(hass, freezer, 31)
    assert state_of(hass, "submission_status") == "auth_failed"
    assert state_of(hass, "last_error") == "auth_failed"


@pytest.mark.usefixtures("at_start")  # a heartbeat would add a record
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
    assert len(runtime_of(config_entry).outbox) == 1
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
    status = diagnostics["devices"][SUBENTRY_ID]["status"]
    assert status["last_record"]["device_id"] == DEFAULT_DEVICE_ID
    assert status["last_body"]["state_of_charge_percent"] == 55


@pytest.mark.usefixtures("at_start")  # a heartbeat would add a record
async def test_setup_while_flatpeak_is_down(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    entry = two_devices(sandbox)
    await sandbox.stop()
    await setup(hass, entry)
    # Loaded anyway: states are recorded and queued until Flatpeak is back.
    assert entry.state is ConfigEntryState.LOADED
    # Each device's start snapshot is queued; the connection is known to be down.
    for runtime in entry.runtime_data.devices.values():
        assert len(runtime.outbox) == 1
    assert state_of(hass, "api_connection", "binary_sensor") == "off"
    assert state_of(hass, "last_error") == "cannot_connect"
    await sandbox.start()
    await advance(hass, freezer, 600)
    for runtime in entry.runtime_data.devices.values():
        assert not runtime.outbox
    assert sandbox.states(DEFAULT_DEVICE_ID)
    assert sandbox.states(SECOND)


async def test_setup_device_not_found(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Only the device Flatpeak does not know pauses; its repair names it."""
    entry = two_devices(sandbox)
    sandbox.remove_device(SECOND)
    await setup(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    issue = issue_registry.async_get_issue(
        DOMAIN, f"device_not_found_{SECOND_SUBENTRY}"
    )
    assert issue is not None
    assert issue.translation_placeholders == {
        "device_id": SECOND,
        "title": "Acme Storage Home 13.5",
    }
    assert issue.data == {"entry_id": entry.entry_id, "subentry_id": SECOND_SUBENTRY}
    assert not issue_registry.async_get_issue(DOMAIN, f"device_not_found_{SUBENTRY_ID}")
    assert runtime_of_subentry(entry, SECOND_SUBENTRY).sender.state == "paused"
    assert runtime_of_subentry(entry, SUBENTRY_ID).sender.state == "idle"
    assert len(sandbox.states(DEFAULT_DEVICE_ID)) == 1
    # The device is back: a reload clears the issue.
    sandbox.add_device(SECOND)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await settle(hass)
    assert not issue_registry.async_get_issue(
        DOMAIN, f"device_not_found_{SECOND_SUBENTRY}"
    )


async def test_remove_entry_deletes_the_outboxes(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    hass_storage: dict[str, Any],
) -> None:
    entry = two_devices(sandbox)
    await setup(hass, entry)
    await sandbox.stop()
    await hass.services.async_call(
        DOMAIN, "submit_device_state", {"device": SECOND}, blocking=False
    )
    await settle(hass)
    assert await hass.config_entries.async_unload(entry.entry_id)
    path = journal(hass, SECOND_SUBENTRY)
    assert (await hass.async_add_executor_job(path.read_bytes)).count(b'"r":') == 1
    kept = path.with_name(f"{path.name}.unreadable-1")  # after a read error
    await hass.async_add_executor_job(kept.write_bytes, b"unreadable once")
    assert f"{DOMAIN}.{SUBENTRY_ID}.last" in hass_storage
    await hass.config_entries.async_remove(entry.entry_id)
    await settle(hass)
    assert not path.exists()
    assert not kept.exists()
    assert f"{DOMAIN}.{SUBENTRY_ID}.last" not in hass_storage
    assert f"{DOMAIN}.{SECOND_SUBENTRY}.last" not in hass_storage


async def test_removing_a_device_deletes_its_storage_entities_and_issues(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
    issue_registry: ir.IssueRegistry,
    hass_storage: dict[str, Any],
) -> None:
    entry = two_devices(sandbox)
    sandbox.remove_device(SECOND)  # its repair issue, and a record queued
    await setup(hass, entry)
    assert issue_registry.async_get_issue(DOMAIN, f"device_not_found_{SECOND_SUBENTRY}")
    assert hass.config_entries.async_remove_subentry(entry, SECOND_SUBENTRY)
    await settle(hass)
    # The account reloaded without it; the other device runs on.
    assert entry.state is ConfigEntryState.LOADED
    assert list(entry.runtime_data.devices) == [SUBENTRY_ID]
    assert not await hass.async_add_executor_job(journal(hass, SECOND_SUBENTRY).exists)
    assert f"{DOMAIN}.{SECOND_SUBENTRY}.last" not in hass_storage
    assert not issue_registry.async_get_issue(
        DOMAIN, f"device_not_found_{SECOND_SUBENTRY}"
    )
    [device] = battery_devices(hass, entry)
    assert device.identifiers == {(DOMAIN, DEFAULT_DEVICE_ID)}
    # Its location's prices went with it (no other device is there); the
    # other device's location stays (the account's, no subentry).
    assert [
        d.identifiers
        for d in dr.async_entries_for_config_entry(device_registry, entry.entry_id)
        if d.entry_type is not None
    ] == [{(DOMAIN, "loc_sandbox0000000000000001")}]
    assert {
        e.config_subentry_id
        for e in er.async_entries_for_config_entry(entity_registry, entry.entry_id)
    } == {SUBENTRY_ID, None}
    assert hass.states.get("sensor.acme_storage_home_13_5_submission_status") is None
    assert state_of(hass, "submission_status") == "ok"


async def test_a_disabled_device_submits_nothing(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    device_registry: dr.DeviceRegistry,
) -> None:
    entry = two_devices(sandbox)
    await setup(hass, entry)
    device = device_entry(hass, entry, SECOND)
    device_registry.async_update_device(
        device.id, disabled_by=dr.DeviceEntryDisabler.USER
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await settle(hass)
    assert list(entry.runtime_data.devices) == [SUBENTRY_ID]
    assert len(sandbox.states(SECOND)) == 1  # only its start before it was disabled


async def test_diagnostics_redact_secrets(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    device_registry: dr.DeviceRegistry,
    hass_client: ClientSessionGenerator,
) -> None:
    entry = two_devices(sandbox)
    await setup(hass, entry)
    await hass.services.async_call(
        DOMAIN, "submit_device_state", {"device": DEFAULT_DEVICE_ID}, blocking=True
    )
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert sandbox.secret_key not in text
    assert sandbox.account_id not in text
    account = diagnostics["account"]
    assert account["data"]["secret_key"] == "**REDACTED**"
    assert account["data"]["account_id"] == "**REDACTED**"
    assert account["api_url"] == sandbox.url
    assert set(diagnostics["devices"]) == {SUBENTRY_ID, SECOND_SUBENTRY}
    first = diagnostics["devices"][SUBENTRY_ID]
    assert first["subentry"]["data"]["device_id"] == DEFAULT_DEVICE_ID
    assert first["subentry"]["title"] == DEVICE_TITLE
    assert first["status"]["status"] == "ok"
    assert first["status"]["last_record"]["account_id"] == "**REDACTED**"
    assert first["status"]["last_body"] == sandbox.states()[-1]
    assert first["status"]["last_error"] == "none"
    assert first["sender"] == "idle"
    assert first["mapping"]["soc_entity"] == "sensor.battery_soc"
    assert first["outbox"] == {
        "queued": 0,
        "dropped": 0,
        "rejected": 0,
        "oldest": None,
    }
    assert first["device"]["id"] == DEFAULT_DEVICE_ID
    # One device's page: the account and that device only.
    device = device_entry(hass, entry, SECOND)
    one = await get_diagnostics_for_device(hass, hass_client, entry, device)
    assert sandbox.secret_key not in json.dumps(one)
    assert one["account"]["data"]["account_id"] == "**REDACTED**"
    assert one["device"]["subentry"]["data"]["device_id"] == SECOND
    assert one["device"]["device"]["manufacturer"] == "Acme Storage"


async def test_setup_refuses_an_insecure_url(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, config_entry: MockConfigEntry
) -> None:
    port = sandbox.port
    config_entry = MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id=sandbox.account_id,
        data={**config_entry.data, "api_url": f"http://192.0.2.1:{port}"},
        subentries_data=[
            device_subentry_data(
                DEFAULT_DEVICE_ID, {**MAPPING, **BEHAVIOUR}, subentry_id=SUBENTRY_ID
            )
        ],
    )
    await setup(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    assert config_entry.reason is not None
    assert "clear text" in config_entry.reason
    assert sandbox.requests == []


@pytest.mark.usefixtures("battery", "at_start")
async def test_deleting_a_disabled_device_deletes_its_files(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """A device disabled in Home Assistant does not run, but it has files (the
    records it queued before, its last submission). Deleting it must delete
    them, as for a device that runs: nothing else ever will."""
    entry = two_devices(sandbox)
    await setup(hass, entry)
    # Records of both devices queued during an outage, on disk.
    await sandbox.stop()
    set_soc(hass, 61)
    await advance(hass, freezer, 31)
    await advance(hass, freezer, 6)  # past the outbox's flush delay
    path = journal(hass, SECOND_SUBENTRY)
    assert await hass.async_add_executor_job(path.exists)
    assert f"{DOMAIN}.{SECOND_SUBENTRY}.last" in hass_storage
    # The user disables the second device (its device page), which stops it.
    registry = dr.async_get(hass)
    registry.async_update_device(
        device_entry(hass, entry, SECOND).id, disabled_by=dr.DeviceEntryDisabler.USER
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await settle(hass)
    assert list(entry.runtime_data.devices) == [SUBENTRY_ID]
    assert await hass.async_add_executor_job(path.exists)  # its records wait
    # Then deletes it (its ⋮ on the account's page).
    assert hass.config_entries.async_remove_subentry(entry, SECOND_SUBENTRY)
    await settle(hass)
    assert entry.state is ConfigEntryState.LOADED
    assert not await hass.async_add_executor_job(path.exists)
    assert f"{DOMAIN}.{SECOND_SUBENTRY}.last" not in hass_storage
    assert await hass.async_add_executor_job(journal(hass, SUBENTRY_ID).exists)


@pytest.mark.usefixtures("battery", "at_start")
async def test_disabling_a_device_stops_its_submissions(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """README: "Disable a device (its device page → ⋮ → Disable) to stop its
    submissions". Home Assistant removes a disabled device's entities but does
    not reload the entry (it reloads only when entities are enabled again), so
    the integration must stop the device itself."""
    entry = two_devices(sandbox)
    await setup(hass, entry)
    before = len(sandbox.states(SECOND))
    registry = dr.async_get(hass)
    registry.async_update_device(
        device_entry(hass, entry, SECOND).id, disabled_by=dr.DeviceEntryDisabler.USER
    )
    await advance(hass, freezer, 1)
    set_soc(hass, 62)
    await advance(hass, freezer, 31)
    await advance(hass, freezer, 300)  # a heartbeat too
    assert len(sandbox.states(SECOND)) == before, "the disabled device submitted"
    assert list(entry.runtime_data.devices) == [SUBENTRY_ID]
    # The other device runs on.
    assert sandbox.states(DEFAULT_DEVICE_ID)[-1]["state_of_charge_percent"] == 62
    # Enabled again, it runs again (Home Assistant reloads the entry after 30 s)
    # and sends what it has.
    registry.async_update_device(device_entry(hass, entry, SECOND).id, disabled_by=None)
    await advance(hass, freezer, 31)
    assert set(entry.runtime_data.devices) == {SUBENTRY_ID, SECOND_SUBENTRY}
    assert len(sandbox.states(SECOND)) > before


@pytest.mark.usefixtures("battery", "at_start")
async def test_a_device_check_that_gets_a_token_resumes_the_whole_account(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    """The first device is paused (Flatpeak did not know it) and checks itself
    again after 1 min. Meanwhile the credentials are refused (the second device
    pauses, one re-authentication is asked for) and restored. The first
    device's check gets a token: the credentials work. It withdraws the
    re-authentication request; the second device must then resume too, not
    stay paused with "authentication failed" until the account's hourly check,
    with nothing left asking the user for anything."""
    entry = two_devices(sandbox)
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    await setup(hass, entry)
    first = entry.runtime_data.devices[SUBENTRY_ID]
    second = entry.runtime_data.devices[SECOND_SUBENTRY]
    assert first.sender.paused_for == "device_not_found"
    sandbox.set_reject_credentials(True)
    set_soc(hass, 63)
    await advance(hass, freezer, 31)
    assert second.sender.paused_for == "auth_failed"
    assert [
        f["context"]["source"] for f in hass.config_entries.flow.async_progress()
    ] == ["reauth"]
    # The key works again, and the device is back at Flatpeak.
    sandbox.set_reject_credentials(False)
    sandbox.add_device(DEFAULT_DEVICE_ID)
    await advance(hass, freezer, 30)  # the first device's check (1 min after)
    assert first.sender.paused_for is None
    assert hass.config_entries.flow.async_progress() == []  # the request withdrawn
    await advance(hass, freezer, 31)
    assert second.sender.paused_for is None, "still paused, and nothing asks the user"
    assert 63 in [s["state_of_charge_percent"] for s in sandbox.states(SECOND)]
