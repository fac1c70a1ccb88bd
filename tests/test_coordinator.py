"""The coordinator: coalescing, minimum gap, heartbeat, delivery, unload."""

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.const import SubmissionStatus
from flatpeak_sandbox import FlatpeakSandbox

from .conftest import ENERGY, POWER, SOC, advance, set_soc, settle, state_of

START = datetime(2026, 11, 28, 10, 0, 10, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _start_time(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(START)


async def test_no_submission_without_a_trigger(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    assert init_integration.state is ConfigEntryState.LOADED
    assert sandbox.states() == []
    assert [r.endpoint for r in sandbox.requests] == ["token", "device"]
    assert state_of(hass, "submission_status") == "pending"


async def test_burst_coalesced_into_one_snapshot(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    set_soc(hass, "56")
    change_time = hass.states.get(SOC).last_updated
    freezer.tick(timedelta(milliseconds=20))
    hass.states.async_set(
        POWER, "-2500", {"unit_of_measurement": "W", "device_class": "power"}
    )
    freezer.tick(timedelta(milliseconds=20))
    hass.states.async_set(
        ENERGY, "6600", {"unit_of_measurement": "Wh", "device_class": "energy_storage"}
    )
    last_change = hass.states.get(ENERGY).last_updated
    await settle(hass)
    assert sandbox.states() == []  # still coalescing
    await advance(hass, freezer, 1)
    bodies = sandbox.states()
    assert len(bodies) == 1
    body = bodies[0]
    assert body["time"] == last_change.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert last_change > change_time
    assert body["state_of_charge_percent"] == 56
    assert body["target_state_of_charge_percent"] == 80
    assert body["battery_power_kw"] == 2.5
    assert body["energy_flow_direction"] == "IMPORT"  # negative = charging
    assert body["energy_remaining_kwh"] == 6.6
    assert body["backup_reserve_percent"] == 20
    assert body["record_reference_id"].startswith("ha_")


async def test_minimum_gap(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    set_soc(hass, "56")
    await advance(hass, freezer, 1)
    assert len(sandbox.states()) == 1
    # Three changes inside the 30 s gap: one submission when it ends, latest values.
    for soc in ("57", "58", "59"):
        await advance(hass, freezer, 5)
        set_soc(hass, soc)
    last = hass.states.get(SOC).last_updated
    await advance(hass, freezer, 5)
    assert len(sandbox.states()) == 1
    await advance(hass, freezer, 10)  # 31 s after the first snapshot
    bodies = sandbox.states()
    assert len(bodies) == 2
    assert bodies[1]["state_of_charge_percent"] == 59
    assert bodies[1]["time"] == last.strftime("%Y-%m-%dT%H:%M:%SZ")
    # Nothing is sent twice.
    await advance(hass, freezer, 60)
    assert len(sandbox.states()) == 2


async def test_heartbeat_aligned_to_the_clock(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    # Started at 10:00:10: heartbeats at 10:05:00 and 10:10:00.
    await advance(hass, freezer, 289)
    assert sandbox.states() == []
    await advance(hass, freezer, 1)
    bodies = sandbox.states()
    assert [b["time"] for b in bodies] == ["2026-11-28T10:05:00Z"]
    assert bodies[0]["state_of_charge_percent"] == 55
    assert bodies[0]["battery_power_kw"] == 1.5
    assert bodies[0]["energy_flow_direction"] == "EXPORT"
    await advance(hass, freezer, 300)
    assert [b["time"] for b in sandbox.states()] == [
        "2026-11-28T10:05:00Z",
        "2026-11-28T10:10:00Z",
    ]
    refs = {b["record_reference_id"] for b in sandbox.states()}
    assert len(refs) == 2


async def test_heartbeat_carries_a_pending_change(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    await advance(hass, freezer, 280)  # 10:04:50
    set_soc(hass, "60")
    await advance(hass, freezer, 1)
    set_soc(hass, "61")
    await advance(hass, freezer, 9)  # 10:05:00: heartbeat inside the gap
    await advance(hass, freezer, 60)
    bodies = sandbox.states()
    assert [b["state_of_charge_percent"] for b in bodies] == [60, 61]
    assert bodies[1]["time"] == "2026-11-28T10:05:00Z"


@pytest.mark.parametrize(
    ("soc", "status"),
    [
        ("unavailable", "waiting_for_data"),
        ("unknown", "waiting_for_data"),
        ("full", "invalid_data"),
        ("101", "invalid_data"),
        ("-1", "invalid_data"),
        ("nan", "invalid_data"),
    ],
)
async def test_required_value_missing_means_no_submission(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    soc: str,
    status: str,
) -> None:
    set_soc(hass, soc)
    await advance(hass, freezer, 1)
    assert sandbox.states() == []
    assert state_of(hass, "submission_status") == status
    assert SOC in state_of(hass, "last_error")
    # Once the value is back, the next change submits and the status recovers.
    set_soc(hass, "40")
    await advance(hass, freezer, 31)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [40]
    assert state_of(hass, "submission_status") == SubmissionStatus.OK


async def test_unload_removes_listeners_and_timers(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    set_soc(hass, "56")
    await hass.async_block_till_done()  # the change is seen, still coalescing
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await settle(hass)
    assert init_integration.state is ConfigEntryState.NOT_LOADED
    set_soc(hass, "57")
    await advance(hass, freezer, 3600)
    assert sandbox.states() == []
    # The change that was still coalescing at unload was kept, and is delivered
    # once the entry is back.
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await settle(hass)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [56]
