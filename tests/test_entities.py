"""The entities: their snapshots, and what they cost the recorder and the logbook.

Regenerate the snapshots after a deliberate change:
pytest tests/test_entities.py --snapshot-update
"""

from collections.abc import Generator
from datetime import UTC, datetime, timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import EVENT_HOMEASSISTANT_STARTED, EntityCategory, Platform
from homeassistant.core import (
    CoreState,
    Event,
    EventStateChangedData,
    HomeAssistant,
    callback,
)
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    snapshot_platform,
)
from syrupy.assertion import SnapshotAssertion

from custom_components.flatpeak.const import DOMAIN
from custom_components.flatpeak.delivery.outbox_writer import FLUSH_DELAY
from flatpeak_sandbox import FlatpeakSandbox

from .conftest import (
    NEWEST_HOME_ASSISTANT,
    SOC,
    SUBENTRY_ID,
    Clocks,
    advance,
    entity_id,
    only_platform,
    runtime_of,
    set_soc,
    settle,
    state_of,
)
from .entity_writes import WriteCounter, online_hour

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(
    params=[Platform.BINARY_SENSOR, Platform.BUTTON, Platform.EVENT, Platform.SENSOR]
)
def platform(
    request: pytest.FixtureRequest, freezer: FrozenDateTimeFactory
) -> Generator[None]:
    """Load one platform at a time (``snapshot_platform`` wants one domain)."""
    freezer.move_to(NOW)
    yield from only_platform(request.param)


@pytest.mark.skipif(
    not NEWEST_HOME_ASSISTANT,
    reason="entity snapshots are of the newest Home Assistant (requirements_test.txt)",
)
@pytest.mark.usefixtures("platform", "entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
) -> None:
    # One accepted submission, so that every entity has a value.
    await hass.services.async_call(DOMAIN, "submit_device_state", {}, blocking=True)
    await settle(hass)
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entity_categories(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    """The button does something (no category); the status entities are read-only."""
    categories = {
        entry.translation_key: entry.entity_category
        for entry in er.async_entries_for_config_entry(
            entity_registry, init_integration.entry_id
        )
    }
    assert categories.pop("submit_now") is None
    # What Flatpeak holds for the user (VPP, prices) is no diagnostic either.
    for key in (
        "vpp_participation",
        "telemetry_active",
        "dispatchable",
        "import_price",
        "export_price",
    ):
        assert categories.pop(key, None) is None
    assert categories
    assert set(categories.values()) == {EntityCategory.DIAGNOSTIC}


@pytest.mark.usefixtures("at_start", "entity_registry_enabled_by_default")
async def test_an_hour_online_within_the_recorder_budget(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Defaults, a mapped entity changing every 10 s: at most 130 writes an hour."""
    with WriteCounter(hass, init_integration.entry_id) as counter:
        await online_hour(hass, freezer)
    assert len(sandbox.states()) >= 120  # a submission every 30 s, and heartbeats
    assert counter.total <= 130, counter.writes


@pytest.mark.usefixtures("at_start")
async def test_routine_submissions_leave_the_logbook_alone(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Submissions while all is well write no logbook entry each; Last
    submission still tells, within the hour, when Flatpeak last accepted data."""
    with WriteCounter(hass, init_integration.entry_id) as counter:
        await online_hour(hass, freezer)
    assert len(sandbox.states()) >= 120
    assert len(counter.logbook) <= 1, counter.logbook
    shown = datetime.fromisoformat(state_of(hass, "last_submission"))
    accepted = runtime_of(init_integration).status.current.last_success
    assert accepted is not None
    assert timedelta(0) <= accepted - shown < timedelta(hours=1)


@pytest.mark.usefixtures("at_start")
async def test_a_manual_submission_shows_at_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    await advance(hass, freezer, 60)
    await hass.services.async_call(DOMAIN, "submit_device_state", {}, blocking=True)
    await settle(hass)
    assert state_of(hass, "last_submission") == "2026-11-28T10:01:10+00:00"


@pytest.mark.usefixtures("at_start")
async def test_a_queue_emptied_within_a_flush_never_shows(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    queued = entity_id(hass, "queued_records")
    with WriteCounter(hass, init_integration.entry_id) as counter:
        await online_hour(hass, freezer, duration=300)
    assert len(sandbox.states()) >= 10
    assert counter.writes[queued] == 0


@pytest.mark.usefixtures("at_start")
async def test_a_backlog_shows_after_the_flush_delay(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    await sandbox.stop()
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert len(runtime_of(init_integration).outbox) == 1
    await advance(hass, freezer, FLUSH_DELAY)
    assert state_of(hass, "queued_records") == "1"
    await sandbox.start()
    for _ in range(70):  # the backoff's next step, whatever its jitter
        await advance(hass, freezer, 10)
    await advance(hass, freezer, 1)  # the entities' second
    assert state_of(hass, "queued_records") == "0"


@pytest.mark.usefixtures("at_start")
async def test_counters_restored_before_the_entities_first_write(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Home Assistant starts with one rejection counted: Rejected records
    shows 1 from its first write on, never 0 (a counter reset to statistics)."""
    sandbox.fail_next(422, endpoint="state")
    await hass.services.async_call(DOMAIN, "submit_device_state", {}, blocking=False)
    await advance(hass, freezer, 1)
    assert state_of(hass, "rejected_records") == "1"
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await settle(hass)
    rejected = entity_id(hass, "rejected_records")
    written: list[str] = []

    @callback
    def watch(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            written.append(new.state)

    async_track_state_change_event(hass, rejected, watch)
    # The entry starts with Home Assistant, before it runs.
    hass.set_state(CoreState.starting)
    assert await hass.config_entries.async_setup(init_integration.entry_id)
    await settle(hass)
    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await settle(hass)
    assert written == ["1"]
    hass_state = hass.states.get(rejected)
    assert hass_state is not None
    assert hass_state.attributes["state_class"] == "total_increasing"


@pytest.mark.usefixtures("at_start")
async def test_last_error_returns_to_none_once_a_record_is_accepted(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    await sandbox.stop()
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert state_of(hass, "last_error") == "cannot_connect"
    await sandbox.start()
    await advance(hass, freezer, 600)
    await advance(hass, freezer, 1)  # the entities' second
    assert len(sandbox.states()) >= 1
    assert state_of(hass, "last_error") == "none"
    attributes = hass.states.get(entity_id(hass, "last_error")).attributes
    assert attributes["message"] is None
    assert attributes["unreadable_entity"] is None


@pytest.mark.usefixtures("at_start")
async def test_a_delivery_keeps_showing_that_no_snapshot_can_be_taken(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The state of charge became unavailable during an outage.

    The record queued before it is delivered when Flatpeak is back; the
    status still says why no snapshot can be taken (it used to say ``ok``,
    *Last error* ``none``, until the next heartbeat or change).
    """
    await sandbox.stop()
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    hass.states.async_set(SOC, "unavailable")
    await advance(hass, freezer, 31)
    await sandbox.start()
    for _ in range(40):  # the backoff's third step at most
        await advance(hass, freezer, 1)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [61]
    assert state_of(hass, "submission_status") == "waiting_for_data"
    assert state_of(hass, "last_error") == "waiting_for_data"
    assert state_of(hass, "api_connection", "binary_sensor") == "on"
    set_soc(hass, 62)  # a snapshot again: the problem is over
    await advance(hass, freezer, 31)
    await advance(hass, freezer, 1)  # the entities' second
    assert [b["state_of_charge_percent"] for b in sandbox.states()][-1] == 62
    assert state_of(hass, "submission_status") == "ok"
    assert state_of(hass, "last_error") == "none"


@pytest.mark.usefixtures("at_start")
async def test_a_resume_keeps_showing_that_no_snapshot_can_be_taken(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The data problem began during a pause: the pause showed, then it."""
    sandbox.unknown_device = True
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    hass.states.async_set(SOC, "unavailable")
    await advance(hass, freezer, 31)
    await advance(hass, freezer, 1)
    assert state_of(hass, "last_error") == "device_not_found"
    sandbox.unknown_device = False
    await advance(hass, freezer, 60)  # the check passes, 61 is delivered
    await advance(hass, freezer, 1)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [61]
    assert state_of(hass, "submission_status") == "waiting_for_data"
    assert state_of(hass, "last_error") == "waiting_for_data"


@pytest.mark.usefixtures("at_start")
async def test_last_submission_is_never_in_the_future_after_a_step_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    clocks: Clocks,
) -> None:
    """The wall clock steps back a day (a clock that ran ahead, corrected).

    A later *Last submission* is held back while it is less than
    ``LAST_SUBMISSION_STEP`` past the shown one; after a step back every new
    one is *before* the shown one. It used to keep showing a time a day in
    the future, for a day and an hour; an earlier one now shows at once.
    """
    set_soc(hass, 61)
    await clocks.advance(31)
    await clocks.advance(1)
    await clocks.step(-timedelta(days=1))
    for soc in (62, 63, 64):
        set_soc(hass, soc)
        await clocks.advance(31)
    assert [b["state_of_charge_percent"] for b in sandbox.states()][-1] == 64
    shown = datetime.fromisoformat(state_of(hass, "last_submission"))
    assert shown <= dt_util.utcnow(), "Last submission is in the future"


@pytest.mark.usefixtures("at_start", "entity_registry_enabled_by_default")
async def test_manual_retries_update_the_entities_at_most_once_a_second(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The user retries again and again during an outage, with no clock time
    passing: one write at once, one at the end of the second."""
    sandbox.fail_next(500, count=100, endpoint="state")
    with WriteCounter(hass, init_integration.entry_id) as counter:
        for _ in range(20):
            with pytest.raises(HomeAssistantError):
                await hass.services.async_call(
                    DOMAIN, "submit_device_state", {}, blocking=True
                )
        failures = len(sandbox.requests_to("state"))
        await advance(hass, freezer, 1)
    assert failures >= 20
    assert max(counter.writes.values()) <= 2, counter.writes
    assert (gap := counter.shortest_gap()) is None or gap >= timedelta(seconds=1)
    assert state_of(hass, "consecutive_failures") == str(failures)


@pytest.mark.usefixtures("at_start", "entity_registry_enabled_by_default")
async def test_retry_after_zero_updates_the_entities_at_most_once_a_second(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """503 with Retry-After: 0, 50 times: whatever the waits between the
    retries, the entities are written at most once a second."""
    sandbox.fail_next(503, count=50, endpoint="state", retry_after="0")
    with WriteCounter(hass, init_integration.entry_id) as counter:
        set_soc(hass, 61)
        for _ in range(240):  # one minute, in quarter seconds
            await advance(hass, freezer, 0.25)
    assert len(sandbox.states()) == 1
    assert (gap := counter.shortest_gap()) is not None, counter.writes
    assert gap >= timedelta(seconds=1), counter.times


@pytest.mark.usefixtures("at_start")
async def test_the_pushed_status_logs_nothing_per_update(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="custom_components.flatpeak")
    await online_hour(hass, freezer, duration=120)
    assert "Manually updated" not in caplog.text


async def test_an_unreadable_saved_last_submission_is_discarded(
    hass: HomeAssistant,
    hass_storage: dict[str, Any],
    battery: None,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hass_storage[f"{DOMAIN}.{SUBENTRY_ID}.last"] = {
        "version": 1,
        "key": f"{DOMAIN}.{SUBENTRY_ID}.last",
        "data": {
            "last_success": "2026-11-28T09:00:00+00:00",
            "last_record": {"id": "r", "time_created": "not a time"},
            "last_body": None,
        },
    }
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await settle(hass)
    assert "Discarding an unreadable saved last submission" in caplog.text
    # The start snapshot was accepted: Last submission is today's, not the saved one.
    assert state_of(hass, "last_submission") != "2026-11-28T09:00:00+00:00"


@pytest.mark.usefixtures("at_start")
async def test_rejected_backlog_updates_entities_at_most_once_a_second(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Draining a backlog that Flatpeak rejects is throttled like one it accepts:
    not one recorder row per record."""
    await sandbox.stop()
    for value in range(30):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    assert len(runtime_of(init_integration).outbox) >= 30
    watched = [entity_id(hass, key) for key in ("queued_records", "rejected_records")]
    writes: dict[str, int] = dict.fromkeys(watched, 0)

    @callback
    def count(event: Event[EventStateChangedData]) -> None:
        writes[event.data["entity_id"]] += 1

    async_track_state_change_event(hass, watched, count)
    await sandbox.start()
    sandbox.fail_next(422, count=100, endpoint="state")
    # Every rejection comes back at once (no clock time passes between them).
    await advance(hass, freezer, 600)
    assert not runtime_of(init_integration).outbox
    # At most one write a second of real time (the drain takes a fraction of
    # one; the margin covers a loaded machine), not one per record (30).
    assert max(writes.values()) <= 10, writes
