"""0.1/0.2 entries (one per device) become account entries with device subentries.

Each test builds what 0.2.0 left behind: version-1 entries, their device and
entities in the registries, an outbox journal holding records, the last
submission, a repair issue. After setup: the records are delivered exactly
once, and every entity ID is what it was.
"""

from datetime import timedelta
import json
from pathlib import Path
from types import MappingProxyType
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.repairs import DOMAIN as REPAIRS
from homeassistant.config_entries import (
    ConfigEntryDisabler,
    ConfigEntryState,
    ConfigSubentry,
)
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.account.registry_compat import belongs_to
from custom_components.flatpeak.api import DeviceState
from custom_components.flatpeak.const import (
    CONF_ACCOUNT_ID,
    CONF_API_URL,
    CONF_SECRET_KEY,
    DOMAIN,
)
from custom_components.flatpeak.reads.readback import READ_ENTITY_KEYS
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from ..conftest import (
    BEHAVIOUR,
    MAPPING,
    SECOND,
    START,
    RandomSource,
    SandboxFactory,
    advance,
    battery_devices,
    settle,
    shown,
)

pytestmark = pytest.mark.usefixtures("battery", "at_start")


@pytest.fixture(autouse=True)
def _backlog_delay(random_source: RandomSource) -> None:
    """The backlog waits 3 s (a tenth of its 0-30 s) after the current state."""
    random_source.fraction = 0.1


# The entities of a 0.2.0 device, by unique-ID key: (platform, object ID suffix).
KEYS = {
    "submission_status": "sensor",
    "last_submission": "sensor",
    "last_error": "sensor",
    "consecutive_failures": "sensor",
    "queued_records": "sensor",
    "dropped_records": "sensor",
    "rejected_records": "sensor",
    "api_connection": "binary_sensor",
    "submit_now": "button",
}


def old_entry(
    sandbox: FlatpeakSandbox,
    device_id: str,
    title: str,
    *,
    url: str | None = None,
    secret_key: str | None = None,
    **kwargs: Any,
) -> MockConfigEntry:
    """Return an entry as 0.2.0 saved it: one device, the mapping in its options."""
    return MockConfigEntry(
        domain=DOMAIN,
        version=1,
        title=title,
        unique_id=device_id,
        data={
            CONF_ACCOUNT_ID: sandbox.account_id,
            CONF_SECRET_KEY: secret_key or sandbox.secret_key,
            CONF_DEVICE_ID: device_id,
            CONF_API_URL: url or sandbox.url,
        },
        options={**MAPPING, **BEHAVIOUR},
        **kwargs,
    )


def register(hass: HomeAssistant, entry: MockConfigEntry, suffix: str = "") -> None:
    """Register the device and entities 0.2.0 created for ``entry``."""
    device_id = entry.data[CONF_DEVICE_ID]
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, device_id)},
        name="Flatpeak battery",
        manufacturer="Flatpeak",
        entry_type=dr.DeviceEntryType.SERVICE,
    )
    registry = er.async_get(hass)
    for key, platform in KEYS.items():
        registry.async_get_or_create(
            platform,
            DOMAIN,
            f"{device_id}_{key}",
            config_entry=entry,
            device_id=device.id,
            suggested_object_id=f"flatpeak_battery_{key}{suffix}",
        )


def record(soc: float, minutes_ago: float) -> DeviceState:
    return DeviceState(
        time=START - timedelta(minutes=minutes_ago),
        state_of_charge_percent=soc,
        target_state_of_charge_percent=80,
        record_reference_id=f"ha_old{int(soc):04d}",
    )


async def queue(hass: HomeAssistant, entry_id: str, *records: DeviceState) -> None:
    """Leave ``records`` in the entry's outbox journal, as a stopped 0.2.0 did.

    0.2.0's lines: ``{"n": <number>, "r": <the API body>}``, one a record.
    """
    path = Path(hass.config.path(".storage", f"{DOMAIN}.{entry_id}.outbox.jsonl"))
    lines = b"".join(
        json.dumps({"n": number, "r": state.to_json()}).encode() + b"\n"
        for number, state in enumerate(records)
    )
    await hass.async_add_executor_job(_write, path, lines)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def entity_ids(hass: HomeAssistant) -> dict[str, tuple[str, str | None, str]]:
    """Return every Flatpeak entity: unique ID -> (entry, subentry, entity ID).

    Not the read entities (of what Flatpeak holds) nor the delivery events:
    0.2 had none, they are new after the migration.
    """
    return {
        entity.unique_id: (
            entity.config_entry_id or "",
            entity.config_subentry_id,
            entity.entity_id,
        )
        for entity in er.async_get(hass).entities.values()
        if entity.platform == DOMAIN
        and not entity.unique_id.endswith((*READ_ENTITY_KEYS, "_delivery"))
    }


async def start(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Set the integration up (every entry of the domain, as at Home Assistant's start)."""
    assert await async_setup_component(hass, DOMAIN, {})
    await settle(hass)
    assert hass.config_entries.async_get_entry(entry.entry_id) is entry
    assert entry.state is ConfigEntryState.LOADED


async def drained(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, entry: MockConfigEntry
) -> None:
    """Step the clock until every device's outbox is empty (the backlog waits
    its delay after the current state)."""
    for _ in range(100):
        if not any(r.outbox for r in entry.runtime_data.devices.values()):
            await shown(hass, freezer)
            return
        await advance(hass, freezer, 0.5)
    raise AssertionError("the outboxes did not drain")


def delivered(sandbox: FlatpeakSandbox, device_id: str) -> list[float]:
    return [s["state_of_charge_percent"] for s in sandbox.states(device_id)]


async def test_one_entry_becomes_an_account_with_one_device(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    hass_storage: dict[str, Any],
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    old = old_entry(sandbox, DEFAULT_DEVICE_ID, "Garage battery")
    old.add_to_hass(hass)
    register(hass, old)
    before = entity_ids(hass)
    await queue(hass, old.entry_id, record(41, 20), record(42, 10))
    hass_storage[f"{DOMAIN}.{old.entry_id}.last"] = {
        "version": 1,
        "key": f"{DOMAIN}.{old.entry_id}.last",
        "data": {
            "last_success": (START - timedelta(hours=1)).isoformat(),
            "last_record": None,
            "last_body": None,
        },
    }

    await start(hass, old)

    assert hass.config_entries.async_entries(DOMAIN) == [old]
    assert old.version == 2
    assert old.title == f"Flatpeak {sandbox.account_id}"
    assert old.unique_id == f"{sandbox.account_id}@{sandbox.url}"
    assert dict(old.data) == {
        CONF_ACCOUNT_ID: sandbox.account_id,
        CONF_SECRET_KEY: sandbox.secret_key,
        CONF_API_URL: sandbox.url,
    }
    assert dict(old.options) == {}
    # The device is a subentry with the old entry's ID: its files carried over.
    [subentry] = old.subentries.values()
    assert subentry.subentry_id == old.entry_id
    assert subentry.subentry_type == "device"
    assert subentry.unique_id == DEFAULT_DEVICE_ID
    assert subentry.title == "Garage battery"
    assert dict(subentry.data) == {
        CONF_DEVICE_ID: DEFAULT_DEVICE_ID,
        **MAPPING,
        **BEHAVIOUR,
    }
    # Entity IDs and unique IDs unchanged; entities and device in the subentry.
    assert entity_ids(hass) == {
        unique_id: (old.entry_id, old.entry_id, entity_id)
        for unique_id, (_, _, entity_id) in before.items()
    }
    [device] = battery_devices(hass, old)
    assert belongs_to(device, old.entry_id, old.entry_id)
    # Named like its subentry now, and a device, not a service.
    assert device.name == "Garage battery"
    assert device.entry_type is None
    # The queued records are delivered once, oldest first, then the start snapshot.
    await drained(hass, freezer, old)
    # The current state first, the queued records once, oldest first, and the
    # current state again to close the drain.
    assert delivered(sandbox, DEFAULT_DEVICE_ID) == [55, 41, 42, 55]
    assert sandbox.duplicates == 0
    state = hass.states.get("sensor.flatpeak_battery_queued_records")
    assert state is not None
    assert state.state == "0"


async def test_two_entries_of_one_account_become_one_account(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    hass_storage: dict[str, Any],
    issue_registry: ir.IssueRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    sandbox.add_device(SECOND, manufacturer="Acme Storage", model="Home 13.5")
    first = old_entry(sandbox, DEFAULT_DEVICE_ID, "House battery")
    second = old_entry(sandbox, SECOND, "Acme Storage Home 13.5 (demo-loft)")
    for entry, suffix in ((first, ""), (second, "_2")):
        entry.add_to_hass(hass)
        register(hass, entry, suffix)
    before = entity_ids(hass)
    await queue(hass, first.entry_id, record(11, 30))
    await queue(hass, second.entry_id, record(21, 30), record(22, 20))
    # 0.2.0's repair issue of the second device: its ID names the old entry.
    ir.async_create_issue(
        hass,
        DOMAIN,
        f"mapping_broken_{second.entry_id}",
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="mapping_broken",
        translation_placeholders={"title": second.title, "entities": "x"},
        data={"entry_id": second.entry_id},
    )

    await start(hass, first)

    # One account entry, two devices; the second entry is gone, its files are not.
    assert hass.config_entries.async_entries(DOMAIN) == [first]
    assert {s.subentry_id: s.unique_id for s in first.subentries.values()} == {
        first.entry_id: DEFAULT_DEVICE_ID,
        second.entry_id: SECOND,
    }
    assert entity_ids(hass) == {
        unique_id: (first.entry_id, subentry_id, entity_id)
        for unique_id, (subentry_id, _, entity_id) in before.items()
    }
    assert "sensor.flatpeak_battery_submission_status_2" in {
        entity_id for _, _, entity_id in entity_ids(hass).values()
    }
    assert len(battery_devices(hass, first)) == 2
    # One token for the account; every queued record delivered exactly once.
    await drained(hass, freezer, first)
    assert delivered(sandbox, DEFAULT_DEVICE_ID) == [55, 11, 55]
    assert delivered(sandbox, SECOND) == [55, 21, 22, 55]
    assert sandbox.duplicates == 0
    # The old issue belongs to the second device: it clears (its mapping works)
    # or, while open, its fix flow finds the device.
    assert first.runtime_data.devices[second.entry_id].context.device_id == SECOND
    assert (
        issue_registry.async_get_issue(DOMAIN, f"mapping_broken_{second.entry_id}")
        is None
    )


async def test_an_old_issue_opens_the_fix_of_its_device(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    """A repair raised by 0.2.0 (data: the old entry) fixes the migrated device."""
    first = old_entry(sandbox, DEFAULT_DEVICE_ID, "House battery")
    first.add_to_hass(hass)
    hass.states.async_remove("sensor.battery_power")  # broken: the issue stays
    await start(hass, first)
    issue_id = f"mapping_broken_{first.entry_id}"
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="mapping_broken",
        translation_placeholders={"title": first.title, "entities": "x"},
        data={"entry_id": first.entry_id},
    )
    assert await async_setup_component(hass, REPAIRS, {})
    await settle(hass)
    flows = hass.data[REPAIRS]["flow_manager"]
    result = await flows.async_init(DOMAIN, data={"issue_id": issue_id})
    assert result["step_id"] == "battery"
    assert result["description_placeholders"]["title"] == "House battery"


async def test_the_same_account_at_two_urls_stays_two_accounts(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, make_sandbox: SandboxFactory
) -> None:
    staging = await make_sandbox(account_id=sandbox.account_id, device_ids=(SECOND,))
    first = old_entry(sandbox, DEFAULT_DEVICE_ID, "House battery")
    second = old_entry(sandbox, SECOND, "Staging battery", url=staging.url)
    first.add_to_hass(hass)
    second.add_to_hass(hass)
    await start(hass, first)
    assert set(hass.config_entries.async_entries(DOMAIN)) == {first, second}
    assert first.unique_id == f"{sandbox.account_id}@{sandbox.url}"
    assert second.unique_id == f"{sandbox.account_id}@{staging.url}"
    assert [s.unique_id for s in second.subentries.values()] == [SECOND]
    assert second.state is ConfigEntryState.LOADED
    assert len(staging.states(SECOND)) == 1


async def test_a_disabled_entry_merged_into_an_enabled_account_stays_off(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    sandbox.add_device(SECOND)
    first = old_entry(
        sandbox, SECOND, "Old battery", disabled_by=ConfigEntryDisabler.USER
    )
    second = old_entry(sandbox, DEFAULT_DEVICE_ID, "House battery")
    for entry, suffix in ((first, "_old"), (second, "")):
        entry.add_to_hass(hass)
        register(hass, entry, suffix)
    await queue(hass, first.entry_id, record(31, 5))
    await start(hass, second)
    # The enabled entry is the account; the disabled one's device is disabled.
    assert hass.config_entries.async_entries(DOMAIN) == [second]
    assert second.disabled_by is None
    assert set(second.subentries) == {first.entry_id, second.entry_id}
    old_device = next(
        device
        for device in dr.async_entries_for_config_entry(
            dr.async_get(hass), second.entry_id
        )
        if (DOMAIN, SECOND) in device.identifiers
    )
    assert old_device.disabled_by is dr.DeviceEntryDisabler.USER
    assert list(second.runtime_data.devices) == [second.entry_id]
    assert sandbox.states(SECOND) == []  # nothing submitted for it
    # Its record waits on disk (not deleted by the removal of its old entry).
    journal = Path(
        hass.config.path(".storage", f"{DOMAIN}.{first.entry_id}.outbox.jsonl")
    )
    assert await hass.async_add_executor_job(journal.exists)


async def test_an_entry_added_after_the_integration_started_migrates_alone(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    old = old_entry(sandbox, DEFAULT_DEVICE_ID, "House battery")
    old.add_to_hass(hass)
    await queue(hass, old.entry_id, record(61, 5))
    assert await hass.config_entries.async_setup(old.entry_id)
    await settle(hass)
    assert old.version == 2
    assert list(old.subentries) == [old.entry_id]
    await drained(hass, freezer, old)
    assert delivered(sandbox, DEFAULT_DEVICE_ID) == [55, 61, 55]


async def test_an_entry_of_a_newer_version_is_not_set_up(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    newer = MockConfigEntry(domain=DOMAIN, version=3, data={})
    newer.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await settle(hass)
    assert newer.state is ConfigEntryState.MIGRATION_ERROR


async def test_a_migration_cut_short_runs_again(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    """Home Assistant stopped after the subentry was added, before the version
    was written: the next start finishes the migration."""
    old = old_entry(sandbox, DEFAULT_DEVICE_ID, "House battery")
    old.add_to_hass(hass)
    register(hass, old)
    hass.config_entries.async_add_subentry(
        old,
        ConfigSubentry(
            data=MappingProxyType({CONF_DEVICE_ID: DEFAULT_DEVICE_ID, **old.options}),
            subentry_id=old.entry_id,
            subentry_type="device",
            title="House battery",
            unique_id=DEFAULT_DEVICE_ID,
        ),
    )
    await start(hass, old)
    assert old.version == 2
    assert list(old.subentries) == [old.entry_id]
    assert delivered(sandbox, DEFAULT_DEVICE_ID) == [55]
