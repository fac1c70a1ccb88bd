"""The "charge in the cheapest window" blueprint, in Home Assistant's automation integration."""

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
import json
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.core import CoreState, Event, HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)
import yaml

from flatpeak_sandbox import FlatpeakSandbox
from flatpeak_sandbox.prices import Override

ROOT = Path(__file__).resolve().parent.parent.parent
NAME = "charge_in_cheapest_window.yaml"
BLUEPRINT = ROOT / "blueprints" / "automation" / "flatpeak" / NAME
SWITCH = "input_boolean.charging"
# A Saturday, 19:00 in London; the sandbox's night rate (00:00-05:00) is cheapest.
NOW = datetime(2026, 11, 28, 19, 0, 0, tzinfo=UTC)
LOOP_TURNS = 200


def load() -> Blueprint:
    return Blueprint(
        dict(load_yaml_dict(BLUEPRINT)),
        path=str(BLUEPRINT),
        expected_domain="automation",
        schema=BLUEPRINT_SCHEMA,
    )


def use_blueprint(entry_id: str, **inputs: Any) -> dict[str, Any]:
    return {
        "use_blueprint": {
            "path": f"flatpeak/{NAME}",
            "input": {
                "config_entry": entry_id,
                "plan_time": "20:00:00",
                "ready_by": "07:00:00",
                "minutes": 120,
                "switches": [SWITCH],
                "start_actions": [
                    {"event": "charge_test", "event_data": {"what": "start"}}
                ],
                "end_actions": [
                    {"event": "charge_test", "event_data": {"what": "end"}}
                ],
                **inputs,
            },
        }
    }


def test_the_blueprint_loads_through_home_assistants_schema() -> None:
    blueprint = load()
    assert blueprint.validate() is None  # this Home Assistant meets min_version
    assert set(blueprint.inputs) == {
        "config_entry",
        "device",
        "minutes",
        "plan_time",
        "ready_by",
        "direction",
        "switches",
        "start_actions",
        "end_actions",
    }
    defaults = {k: v.get("default") for k, v in blueprint.inputs.items()}
    assert defaults == {
        "config_entry": None,
        "device": "",
        "minutes": 120,
        "plan_time": "20:00:00",
        "ready_by": "07:00:00",
        "direction": "import",
        "switches": [],
        "start_actions": [],
        "end_actions": [],
    }
    assert blueprint.inputs["switches"]["selector"]["entity"]["filter"] == [
        {"domain": ["switch", "input_boolean"]}
    ]


def test_the_source_url_and_the_readme_link_name_the_manifest_repository() -> None:
    manifest = json.loads(
        (ROOT / "custom_components/flatpeak/manifest.json").read_text()
    )
    repository = manifest["documentation"].removeprefix("https://github.com/")
    path = f"blueprints/automation/flatpeak/{NAME}"
    assert load().metadata["source_url"] == (
        f"https://github.com/{repository}/blob/main/{path}"
    )
    raw = f"https://raw.githubusercontent.com/{repository}/main/{path}"
    link = (
        "https://my.home-assistant.io/redirect/blueprint_import/"
        f"?blueprint_url={raw.replace(':', '%3A').replace('/', '%2F')}"
    )
    assert link in (ROOT / "README.md").read_text()


async def test_the_blueprint_instantiates_with_its_defaults(
    hass: HomeAssistant,
) -> None:
    inputs = BlueprintInputs(
        load(), {"use_blueprint": {"path": NAME, "input": {"config_entry": "e1"}}}
    )
    inputs.validate()
    automation = inputs.async_substitute()
    assert automation["actions"][0] == {
        "action": "flatpeak.find_best_window",
        "data": {
            "config_entry_id": "e1",
            "device": "",
            "duration": 120,
            "start": "{{ window_start }}",
            "end": "{{ window_end }}",
            "segment": "cheapest",
            "direction": "import",
        },
        "response_variable": "window",
    }
    assert await async_validate_config_item(hass, "automation", automation)


@pytest.fixture
async def home(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, tmp_path: Path
) -> AsyncGenerator[list[Event]]:
    """London time, the blueprint where an import puts it, a switch; the actions' events.

    Afterwards the automations are turned off: their runs stop, their time
    triggers are cancelled (a stopping Home Assistant does neither).
    """
    freezer.move_to(NOW)
    await hass.config.async_set_time_zone("Europe/London")
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / "flatpeak"
    target.mkdir(parents=True)
    shutil.copy(BLUEPRINT, target / NAME)
    # Always loaded in a real Home Assistant: homeassistant.turn_on/turn_off.
    assert await async_setup_component(hass, "homeassistant", {})
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"charging": None}}
    )
    yield async_capture_events(hass, "charge_test")
    if hass.services.has_service("automation", "turn_off"):
        await hass.services.async_call(
            "automation", "turn_off", {"entity_id": "all"}, blocking=True
        )


async def automate(hass: HomeAssistant, entry: MockConfigEntry, **inputs: Any) -> None:
    """Set the automation up, from configuration.yaml as a reload reads it."""
    config = {"automation": [use_blueprint(entry.entry_id, **inputs)]}
    Path(hass.config.path("configuration.yaml")).write_text(yaml.safe_dump(config))
    assert await async_setup_component(hass, "automation", config)
    await turn_the_loop()


async def turn_the_loop() -> None:
    """Let what is ready run: services, the action's request to the sandbox.

    Home Assistant's ``async_block_till_done`` would wait for the automation's
    run too, which waits out its delays for hours. Loopback I/O completes
    within a few turns of the loop; this gives it many.
    """
    for _ in range(LOOP_TURNS):
        await asyncio.sleep(0)


async def until(hass: HomeAssistant, freezer: FrozenDateTimeFactory, when: str) -> str:
    """Move the clock to ``when`` (London, 28 or 29 November); the switch's state."""
    day, clock = when.split(" ")
    hour, minute, second = (int(x) for x in clock.split(":"))
    moment = datetime(2026, 11, int(day), hour, minute, second, tzinfo=UTC)
    assert moment >= datetime.now(UTC), when
    await turn_the_loop()
    freezer.move_to(moment)
    async_fire_time_changed(hass)
    await turn_the_loop()
    state = hass.states.get(SWITCH)
    assert state is not None
    return state.state


def what(events: list[Event]) -> list[str]:
    return [event.data["what"] for event in events]


async def test_the_switch_is_on_in_the_cheapest_window(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: list[Event],
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    await automate(hass, init_integration)
    assert await until(hass, freezer, "28 19:59:59") == "off"
    assert sandbox.requests_to("schedules") == []
    assert await until(hass, freezer, "28 20:00:00") == "off"
    [request] = sandbox.requests_to("schedules")
    assert request.status == 200
    assert request.body["start_time"] == "2026-11-28T20:00:00Z"
    assert request.body["end_time"] == "2026-11-29T07:00:00Z"
    assert (request.body["duration"], request.body["segment"]) == (120, "LOW")
    assert await until(hass, freezer, "28 23:59:59") == "off"
    assert await until(hass, freezer, "29 00:00:00") == "on"
    assert what(home) == ["start"]
    assert await until(hass, freezer, "29 01:59:59") == "on"
    assert await until(hass, freezer, "29 02:00:00") == "off"
    assert what(home) == ["start", "end"]
    # The next evening plans again.
    assert await until(hass, freezer, "29 20:00:00") == "off"
    assert len(sandbox.requests_to("schedules")) == 2


async def test_split_periods_switch_on_and_off_each(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: list[Event],
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    sandbox.reads.overrides.append(
        Override(
            datetime(2026, 11, 28, 22, 0, tzinfo=UTC),
            datetime(2026, 11, 28, 22, 30, tzinfo=UTC),
            0.02,
        )
    )
    await automate(hass, init_integration)
    states = [
        await until(hass, freezer, when)
        for when in (
            "28 20:00:00",
            "28 21:59:59",
            "28 22:00:00",
            "28 22:29:59",
            "28 22:30:00",
            "28 23:59:59",
            "29 00:00:00",
            "29 01:29:59",
            "29 01:30:00",
        )
    ]
    assert states == ["off", "off", "on", "on", "off", "off", "on", "on", "off"]
    assert what(home) == ["start", "end", "start", "end"]


async def test_a_reload_during_a_period_resumes_the_plan(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: list[Event],
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    """The run is stopped by the reload; the same window is asked again."""
    await automate(hass, init_integration)
    assert await until(hass, freezer, "29 00:30:00") == "on"
    await hass.services.async_call("automation", "reload", blocking=True)
    assert await until(hass, freezer, "29 00:30:01") == "on"
    first, again = (r.body for r in sandbox.requests_to("schedules"))
    assert again == first  # the evening's window, not one from now
    assert await until(hass, freezer, "29 02:00:00") == "off"
    # Switched on again at the reload, off once at the end.
    assert what(home) == ["start", "start", "end"]


async def test_a_reload_outside_the_plan_asks_nothing(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: list[Event],
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    await automate(hass, init_integration)
    assert await until(hass, freezer, "28 19:30:00") == "off"
    await hass.services.async_call("automation", "reload", blocking=True)
    await turn_the_loop()
    assert sandbox.requests_to("schedules") == []


async def test_a_start_after_a_period_ended_unseen_switches_off(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: list[Event],
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    """Home Assistant was down at 02:00 with the switch on; it starts at 03:00."""
    freezer.move_to(datetime(2026, 11, 29, 3, 0, tzinfo=UTC))
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": SWITCH}, blocking=True
    )
    hass.set_state(CoreState.not_running)
    await automate(hass, init_integration)
    assert sandbox.requests_to("schedules") == []  # not before the start
    await hass.async_start()
    await turn_the_loop()
    [request] = sandbox.requests_to("schedules")
    assert request.body["start_time"] == "2026-11-28T20:00:00Z"
    state = hass.states.get(SWITCH)
    assert state is not None
    assert state.state == "off"
    assert what(home) == ["end"]


async def test_a_start_before_the_period_waits_for_it(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: list[Event],
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    """Home Assistant was down at the planning time: it plans when it starts."""
    freezer.move_to(datetime(2026, 11, 28, 22, 0, tzinfo=UTC))
    hass.set_state(CoreState.not_running)
    await automate(hass, init_integration)
    await hass.async_start()
    await turn_the_loop()
    assert len(sandbox.requests_to("schedules")) == 1
    assert await until(hass, freezer, "28 23:59:59") == "off"
    assert await until(hass, freezer, "29 00:00:00") == "on"
    assert await until(hass, freezer, "29 02:00:00") == "off"
    assert what(home) == ["start", "end"]


async def test_without_a_price_nothing_is_switched(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: list[Event],
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox.reads.set_tariff("not_connected")
    await automate(hass, init_integration, switches=[], direction="export")
    assert await until(hass, freezer, "28 20:00:00") == "off"
    [request] = sandbox.requests_to("schedules")
    assert (request.status, request.body["tariff_direction"]) == (422, "EXPORT")
    assert "No tariff is connected in Flatpeak" in caplog.text
    assert await until(hass, freezer, "29 07:00:00") == "off"
    assert home == []


async def test_without_switches_only_the_actions_run(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    home: list[Event],
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    await automate(hass, init_integration, switches=[], minutes=30)
    assert await until(hass, freezer, "29 00:00:00") == "off"
    assert what(home) == ["start"]
    assert await until(hass, freezer, "29 00:30:00") == "off"
    assert what(home) == ["start", "end"]
    assert timedelta(minutes=30) == home[1].time_fired - home[0].time_fired
