"""The "Flatpeak delivery" event entity: what delivery tells automations."""

from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import STATE_UNKNOWN
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_mock_service,
)
import yaml

from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from ..conftest import RandomSource, advance, drain, entity_id, runtime_of, set_soc

pytestmark = pytest.mark.usefixtures("at_start")

EVENT = "event.sandbox_energy_sandbox_battery_10_flatpeak_delivery"


@pytest.fixture
def fired(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> list[dict[str, Any]]:
    """Return the events the entity fires from now on: its attributes, in order."""
    assert entity_id(hass, "delivery", "event") == EVENT
    events: list[dict[str, Any]] = []
    last: list[tuple[str, dict[str, Any]]] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        # An event is a new time (or, on the oldest Home Assistant under the
        # frozen clock, new attributes); a reload restores the last one.
        new = event.data["new_state"]
        if new is None or dt_util.parse_datetime(new.state) is None:
            return
        attributes = dict(new.attributes)
        del attributes["event_types"], attributes["friendly_name"]
        attributes.pop("restored", None)
        if last and (new.state, attributes) == last[-1]:
            return
        assert not last or new.state >= last[-1][0]
        last.append((new.state, attributes))
        events.append(attributes)

    async_track_state_change_event(hass, EVENT, record)
    return events


def test_the_entity(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    """One per device, diagnostic, no device class, the four event types."""
    state = hass.states.get(EVENT)
    assert state is not None
    assert state.state == STATE_UNKNOWN
    assert state.attributes["event_types"] == [
        "rejected",
        "paused",
        "resumed",
        "backlog_delivered",
    ]
    assert "device_class" not in state.attributes
    entry = er.async_get(hass).async_get(EVENT)
    assert entry is not None
    assert entry.unique_id == f"{DEFAULT_DEVICE_ID}_delivery"
    assert entry.entity_category == "diagnostic"
    assert entry.translation_key == "delivery"


async def test_normal_deliveries_and_a_retry_fire_nothing(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    fired: list[dict[str, Any]],
) -> None:
    for value in (60, 61, 62):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    # One record failing once and delivered on retry is no backlog.
    sandbox.fail_next(503, endpoint="state")
    set_soc(hass, 63)
    await advance(hass, freezer, 31)
    await advance(hass, freezer, 10)  # the first backoff is at most 10 s
    assert [r.status for r in sandbox.requests_to("state")][-2:] == [503, 200]
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [60, 61, 62, 63]
    assert fired == []
    assert hass.states.get(EVENT).state == STATE_UNKNOWN


async def test_a_rejection_fires_with_flatpeaks_code(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    fired: list[dict[str, Any]],
) -> None:
    sandbox.fail_next(422, endpoint="state", code="invalid_field")
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert fired == [
        {"event_type": "rejected", "reason": "rejected", "error_code": "invalid_field"}
    ]
    # The state is the time of the event (the clock stands still meanwhile).
    assert hass.states.get(EVENT).state == dt_util.utcnow().isoformat(
        timespec="milliseconds"
    )


async def test_paused_resumed_then_the_backlog_delivered(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    fired: list[dict[str, Any]],
    random_source: RandomSource,
) -> None:
    sandbox.set_reject_credentials(True)
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert fired == [{"event_type": "paused", "reason": "auth_failed"}]
    for value in (62, 63):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    queued = len(runtime_of(init_integration).outbox)
    assert queued >= 3
    # The key is restored: the hourly check resumes, the backlog drains.
    sandbox.set_reject_credentials(False)
    await advance(hass, freezer, 3600)
    await drain(hass, freezer, init_integration)
    delivered = len(sandbox.states())
    assert delivered >= queued
    assert fired[1:] == [
        {"event_type": "resumed", "reason": "auth_failed"},
        {"event_type": "backlog_delivered", "records": fired[2]["records"]},
    ]
    # Every record of the drain is counted (the heartbeats of the hour too).
    assert queued <= fired[2]["records"] <= delivered


async def test_an_outage_backlog_is_delivered_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    fired: list[dict[str, Any]],
    random_source: RandomSource,
) -> None:
    """An outage is no pause: only the end of the drain is news."""
    await sandbox.stop()
    for value in range(5):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    queued = len(runtime_of(init_integration).outbox)
    await sandbox.start()
    await advance(hass, freezer, 600)
    await drain(hass, freezer, init_integration)
    delivered = len(sandbox.states())
    assert fired == [
        {"event_type": "backlog_delivered", "records": fired[0]["records"]}
    ]
    # Every record of the drain: the queued ones, a heartbeat during the backoff.
    assert queued <= fired[0]["records"] <= delivered
    set_soc(hass, 50)
    await advance(hass, freezer, 31)
    assert len(fired) == 1


async def test_a_reload_that_fixes_a_pause_fires_resumed(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    fired: list[dict[str, Any]],
    random_source: RandomSource,
) -> None:
    """A repair reloads the entry: the entity remembers the pause it ended."""
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert fired == [{"event_type": "paused", "reason": "device_not_found"}]
    # Reloaded while still unknown: still paused, which is no news.
    await hass.config_entries.async_reload(init_integration.entry_id)
    await advance(hass, freezer, 1)
    assert runtime_of(init_integration).sender.paused_for == "device_not_found"
    assert len(fired) == 1
    # Back at Flatpeak; the fix reloads: the first delivery ends the pause.
    sandbox.add_device(DEFAULT_DEVICE_ID)
    await hass.config_entries.async_reload(init_integration.entry_id)
    await advance(hass, freezer, 1)
    await drain(hass, freezer, init_integration)
    assert fired[1] == {"event_type": "resumed", "reason": "device_not_found"}
    assert [event["event_type"] for event in fired[2:]] in ([], ["backlog_delivered"])


async def test_a_pause_found_at_start_shows_once_the_entity_is_there(
    hass: HomeAssistant,
    battery: None,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    """The lookup pauses before the entity exists: the event waits for it."""
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    state = hass.states.get(EVENT)
    assert state is not None
    assert state.attributes["event_type"] == "paused"
    assert state.attributes["reason"] == "device_not_found"


def readme_automation() -> Any:
    """Return the README's example, for the test's device."""
    readme = (Path(__file__).parent.parent.parent / "README.md").read_text()
    start = readme.index("\n### Flatpeak delivery events")
    section = readme[start : readme.index("\n## ", start)]
    [block] = [part.split("```", 1)[0] for part in section.split("```yaml\n")[1:]]
    return yaml.safe_load(
        block.replace("event.acme_storage_home_13_5_flatpeak_delivery", EVENT)
    )


async def test_the_readme_example_notifies_a_pause_only(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    notes = async_mock_service(hass, "notify", "notify")
    assert await async_setup_component(hass, "automation", readme_automation())
    sandbox.fail_next(422, endpoint="state")
    set_soc(hass, 60)
    await advance(hass, freezer, 31)
    assert hass.states.get(EVENT).attributes["event_type"] == "rejected"
    assert notes == []
    sandbox.set_reject_credentials(True)
    set_soc(hass, 61)
    await advance(hass, freezer, 31)
    assert [note.data["message"] for note in notes] == [
        "Flatpeak delivery paused (auth_failed); records are queued until it is fixed."
    ]


async def test_a_pause_whose_check_passes_but_the_submission_fails_fires_once(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    fired: list[dict[str, Any]],
) -> None:
    """A 404 on the PUT only: the device check passes, the PUT fails again.

    One ``paused``; ``resumed`` only when Flatpeak accepts a record again.
    """
    sandbox.fail_next(404, 10_000, endpoint="state")
    set_soc(hass, 61)
    for _ in range(60):  # an hour: several checks pass, the PUT fails after each
        await advance(hass, freezer, 60)
    assert fired == [{"event_type": "paused", "reason": "device_not_found"}]
    sandbox.clear_faults()
    for _ in range(70):
        await advance(hass, freezer, 60)
    assert [event["event_type"] for event in fired][:2] == ["paused", "resumed"]
    assert fired.count({"event_type": "resumed", "reason": "device_not_found"}) == 1
