"""The scheduler: coalescing, minimum gap, heartbeat, delivery, unload."""

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flatpeak.const import CONF_MIN_INTERVAL, SubmissionStatus
from flatpeak_sandbox import FlatpeakSandbox

from ..conftest import (
    ENERGY,
    POWER,
    SOC,
    Clocks,
    advance,
    device_options,
    drain,
    entity_id,
    set_battery,
    set_device_options,
    set_soc,
    settle,
    shown,
    state_of,
)

pytestmark = pytest.mark.usefixtures("at_start")

DELIVERY = ("token", "device", "state")


async def test_snapshot_when_the_entry_starts(
    hass: HomeAssistant,
    battery: None,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await settle(hass)
    # Flatpeak has the current state right away, not at the next change (the
    # reads, in the background, are test_reads.py's).
    assert [r.endpoint for r in sandbox.requests if r.endpoint in DELIVERY] == [
        "token",
        "device",
        "state",
    ]
    [body] = sandbox.states()
    assert body["time"] == "2026-11-28T10:00:10Z"
    assert body["state_of_charge_percent"] == 55
    assert state_of(hass, "submission_status") == "ok"
    assert state_of(hass, "last_error") == "none"
    # The start snapshot does not hold back the first change.
    set_soc(hass, "56")
    await advance(hass, freezer, 1)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [55, 56]


async def test_snapshot_at_start_waits_for_the_entities(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await settle(hass)
    assert sandbox.states() == []
    assert state_of(hass, "submission_status") == "waiting_for_data"
    set_battery(hass, soc=44)
    await settle(hass)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [44]
    await shown(hass, freezer)
    assert state_of(hass, "submission_status") == "ok"


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
        ("101.5", "invalid_data"),
        ("-1.1", "invalid_data"),
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
    assert state_of(hass, "last_error") == status
    attributes = hass.states.get(entity_id(hass, "last_error")).attributes
    assert attributes["unreadable_entity"] == SOC
    # Only what a user needs: no "entity_id" (a group's members), no time.
    assert "entity_id" not in attributes
    assert "time" not in attributes
    # Once the value is back, the next change submits and the status recovers.
    set_soc(hass, "40")
    await advance(hass, freezer, 31)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [40]
    await shown(hass, freezer)
    assert state_of(hass, "submission_status") == SubmissionStatus.OK


@pytest.mark.usefixtures("at_start")  # no heartbeat boundary during the drain
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
    # once the entry is back: after the start snapshot (the current state),
    # which closes the drain again.
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await settle(hass)
    await drain(hass, freezer, init_integration)
    bodies = sandbox.states()
    assert [b["state_of_charge_percent"] for b in bodies] == [57, 56, 57]
    assert bodies[0]["time"] < bodies[2]["time"]


@pytest.mark.parametrize(("soc", "sent"), [("100.3", 100), ("-0.4", 0), ("99.5", 99.5)])
async def test_percentages_just_outside_the_range_are_clamped(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    soc: str,
    sent: float,
) -> None:
    set_soc(hass, soc)
    await advance(hass, freezer, 1)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [sent]


async def test_heartbeat_stamped_when_it_runs(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    # The host slept from 10:00:10 to 13:00:07: the 10:05 heartbeat runs late.
    freezer.move_to(datetime(2026, 11, 28, 13, 0, 7, tzinfo=UTC))
    async_fire_time_changed(hass)
    await settle(hass)
    assert [b["time"] for b in sandbox.states()] == ["2026-11-28T13:00:07Z"]
    # The next one is scheduled from that moment, on the clock.
    await advance(hass, freezer, 292)
    assert len(sandbox.states()) == 1
    await advance(hass, freezer, 1)
    assert [b["time"] for b in sandbox.states()][1:] == ["2026-11-28T13:05:00Z"]


async def test_early_heartbeat_timer_does_not_fire_the_boundary_twice(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    freezer.move_to(datetime(2026, 11, 28, 10, 4, 59, 900_000, tzinfo=UTC))
    # The 10:05:00 timer fires while the clock still reads 10:04:59.9.
    async_fire_time_changed(hass, datetime(2026, 11, 28, 10, 5, 0, tzinfo=UTC))
    await settle(hass)
    assert len(sandbox.states()) == 1
    for _ in range(5):
        await advance(hass, freezer, 1)
    assert len(sandbox.states()) == 1
    await advance(hass, freezer, 295)  # 10:10:04.9
    assert len(sandbox.states()) == 2


async def test_a_clock_step_back_stalls_nothing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    clocks: Clocks,
) -> None:
    """Fails on 0.2.0: the change waited an hour for the minimum gap to pass."""
    await clocks.advance(290)  # the 10:05:00 heartbeat
    await clocks.advance(60)
    await clocks.step(timedelta(hours=-1))  # 09:06:00
    set_soc(hass, "57")
    await clocks.advance(1)
    bodies = sandbox.states()
    assert [b["time"] for b in bodies] == [
        "2026-11-28T10:05:00Z",
        "2026-11-28T09:06:00Z",  # before the previous one: accepted
    ]
    assert bodies[-1]["state_of_charge_percent"] == 57
    # The minimum gap is real time too: the next change 31 s later.
    set_soc(hass, "58")
    await clocks.advance(31)
    assert [b["state_of_charge_percent"] for b in sandbox.states()][-1] == 58
    assert state_of(hass, "submission_status") == "ok"


async def test_a_clock_step_back_repeats_no_heartbeat(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    clocks: Clocks,
) -> None:
    """Fails on 0.2.0: no heartbeat for the hour the clock went back."""
    await clocks.advance(290)  # the 10:05:00 heartbeat
    await clocks.advance(60)
    await clocks.step(timedelta(hours=-1))  # 09:06:00
    for _ in range(70):
        await clocks.advance(60)
    times = [b["time"][11:16] for b in sandbox.states()]
    # Every 5 minutes of real time, on the clock's boundaries again; the
    # 10:05 heartbeat, the same record as the one sent before the step, is
    # not sent twice.
    assert times == [
        "10:05",
        *(f"{minute // 60:02d}:{minute % 60:02d}" for minute in range(550, 605, 5)),
        "10:10",
        "10:15",
    ]
    refs = [b["record_reference_id"] for b in sandbox.states()]
    assert len(set(refs)) == len(refs)
    assert sandbox.duplicates == 0


@pytest.mark.usefixtures("at_start")
async def test_reload_while_a_change_coalesces_queues_it_once(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The change queued at unload is the state the reloaded entry would send
    at its start: it is sent once, not twice."""
    set_soc(hass, 66)
    await hass.async_block_till_done()  # coalescing: not queued yet
    # The account reloads.
    set_device_options(
        hass,
        init_integration,
        {**device_options(init_integration), CONF_MIN_INTERVAL: 5},
    )
    await advance(hass, freezer, 10)
    puts = [
        r
        for r in sandbox.requests_to("state")
        if r.body["state_of_charge_percent"] == 66
    ]
    assert len(puts) == 1
    assert sandbox.duplicates == 0
