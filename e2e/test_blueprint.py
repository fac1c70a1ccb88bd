"""The blueprints in a real Home Assistant: imported, instantiated, working.

The blueprint file goes into the config's blueprints/ folder (where an import
puts it) and an automation is created from it over REST. Submit on change: a
change of the chosen entity reaches the sandbox (the entry submits nothing on
its own here: no submit on change, a daily heartbeat, so every record is the
blueprint's). Charge in the cheapest window: the demo switch goes on at the
start of the window Flatpeak returned, and off at its end.
"""

from collections.abc import Iterator
import contextlib
from datetime import UTC, datetime, timedelta
from pathlib import Path
import shutil
import time
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devtools.homeassistant_process import HttpError, websocket

from .conftest import BLUEPRINT_DEVICE_ID, Stack, add_entry, wait_for

pytestmark = pytest.mark.e2e

BLUEPRINT = (
    Path(__file__).resolve().parent.parent
    / "blueprints"
    / "automation"
    / "flatpeak"
    / "submit_on_change.yaml"
)
SOC = "sensor.blueprint_battery_soc"
PRICE = "sensor.blueprint_import_price"
AUTOMATION = "automation.flatpeak_on_a_price_change"
AUTOMATION_ID = "flatpeak_blueprint_e2e"
MAPPING = {
    "state_of_charge_entity": SOC,
    "target_state_of_charge_percent": 90,
    "battery_power_sign": "positive_discharging",
}
# Only the automation submits: no submission on change, a daily heartbeat.
SUBMISSION = {"submit_on_change": False, "min_interval": 30, "heartbeat_interval": 1440}


def set_state(stack: Stack, entity_id: str, state: str, **attrs: Any) -> None:
    stack.api("POST", f"/api/states/{entity_id}", {"state": state, "attributes": attrs})


def automation_state(stack: Stack) -> str | None:
    try:
        answer: dict[str, Any] = stack.api("GET", f"/api/states/{AUTOMATION}")
    except HttpError as err:
        if err.status == 404:
            return None
        raise
    return str(answer["state"])


def socs(stack: Stack) -> list[float]:
    return [
        r["body"]["state_of_charge_percent"]
        for r in stack.sandbox.states(BLUEPRINT_DEVICE_ID)
    ]


def settled_socs(stack: Stack, quiet: float = 2.0) -> list[float]:
    """Return the states of charge received once none arrived for ``quiet`` s."""
    seen = socs(stack)
    still_since = time.monotonic()

    def settled() -> bool:
        nonlocal seen, still_since
        now = socs(stack)
        if now != seen:
            seen, still_since = now, time.monotonic()
        return bool(now) and time.monotonic() - still_since >= quiet

    wait_for(settled, what="the entry's start snapshots")
    return seen


def entry_state(stack: Stack, entry_id: str) -> str | None:
    entries = stack.api("GET", "/api/config/config_entries/entry?domain=flatpeak")
    return next((e["state"] for e in entries if e["entry_id"] == entry_id), None)


@pytest.fixture
def entry_id(stack: Stack) -> Iterator[str]:
    """Add the entry; remove it and the automation afterwards.

    The other end-to-end tests start from a home without Flatpeak entries (the
    browser test adds the integration from the dashboard).
    """
    set_state(stack, SOC, "64", unit_of_measurement="%", device_class="battery")
    set_state(stack, PRICE, "0.30", unit_of_measurement="EUR/kWh")
    entry_id = add_entry(stack, BLUEPRINT_DEVICE_ID, MAPPING, SUBMISSION)
    # Saving the settings reloads it.
    wait_for(lambda: entry_state(stack, entry_id) == "loaded", what="the entry")
    yield entry_id
    with contextlib.suppress(HttpError):
        stack.api("DELETE", f"/api/config/automation/config/{AUTOMATION_ID}")
    stack.api("DELETE", f"/api/config/config_entries/entry/{entry_id}")


def test_an_automation_from_the_blueprint_submits_on_a_change(
    stack: Stack, entry_id: str
) -> None:
    target = stack.hass.config_dir / "blueprints" / "automation" / "flatpeak"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(BLUEPRINT, target / BLUEPRINT.name)
    answer = stack.api(
        "POST",
        f"/api/config/automation/config/{AUTOMATION_ID}",
        {
            "alias": "Flatpeak on a price change",
            "description": "",
            "use_blueprint": {
                "path": "flatpeak/submit_on_change.yaml",
                "input": {"trigger_entity": PRICE, "config_entry": entry_id},
            },
        },
    )
    assert answer == {"result": "ok"}
    wait_for(
        lambda: automation_state(stack) == "on",
        what="the automation from the blueprint",
    )
    # The entry submitted its state when it started (and when its options
    # reloaded it): that is all, until the price changes.
    start = settled_socs(stack)
    assert start and set(start) == {64}

    set_state(stack, PRICE, "0.25", unit_of_measurement="EUR/kWh")
    wait_for(
        lambda: socs(stack) == [*start, 64], what="the blueprint's first submission"
    )
    # Not submitted on change: the next record comes from the next price change.
    set_state(stack, SOC, "66", unit_of_measurement="%", device_class="battery")
    set_state(stack, PRICE, "0.21", unit_of_measurement="EUR/kWh")
    wait_for(lambda: socs(stack) == [*start, 64, 66], what="the second submission")
    automation = stack.api("GET", f"/api/states/{AUTOMATION}")
    assert automation["attributes"]["last_triggered"] is not None


# --- charge in the cheapest window ----------------------------------------------

CHARGE_BLUEPRINT = BLUEPRINT.with_name("charge_in_cheapest_window.yaml")
CHARGE_ID = "flatpeak_charge_e2e"
DEMO_SWITCH = "input_boolean.demo_battery_charging"  # config/configuration.yaml
LONDON = ZoneInfo("Europe/London")  # the demo home's time zone
# The sandbox's clock and Home Assistant's are this machine's; the time trigger
# fires within the second, the delays to a window's ends within a fraction.
ON_TIME = 2.0  # seconds


def find_best_window(stack: Stack, **data: Any) -> dict[str, Any]:
    answer: dict[str, Any] = stack.api(
        "POST", "/api/services/flatpeak/find_best_window?return_response", data
    )
    return dict(answer["service_response"])


def test_the_action_answers_over_rest(stack: Stack, entry_id: str) -> None:
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=1)
    window = find_best_window(
        stack,
        device=BLUEPRINT_DEVICE_ID,
        duration=90,
        start=start.isoformat(),
        end=(start + timedelta(hours=12)).isoformat(),
    )
    assert window["device_id"] == BLUEPRINT_DEVICE_ID
    assert (window["minutes"], window["currency"], window["unit"]) == (
        90,
        "GBP",
        "GBP/kWh",
    )
    # In Home Assistant's time zone (London: +00:00 in winter, +01:00 in summer).
    offset = datetime.now(LONDON).strftime("%z")
    assert window["start"].endswith(f"{offset[:3]}:{offset[3:]}")
    assert sum(p["minutes"] for p in window["periods"]) == 90
    # A user's mistake is a 400 with the reason.
    with pytest.raises(HttpError) as err:
        find_best_window(
            stack, device=BLUEPRINT_DEVICE_ID, duration=0, end=start.isoformat()
        )
    assert err.value.status == 400
    assert "at least 1 minute" in str(err.value)


def switch(stack: Stack) -> dict[str, Any]:
    answer: dict[str, Any] = stack.api("GET", f"/api/states/{DEMO_SWITCH}")
    return answer


def planned_window(stack: Stack) -> dict[str, Any] | None:
    """Return the action's response in the automation's last trace, once there."""
    runs = websocket(
        stack.hass.url,
        stack.owner.access_token,
        {"type": "trace/list", "domain": "automation", "item_id": CHARGE_ID},
    )
    if not runs:
        return None
    trace = websocket(
        stack.hass.url,
        stack.owner.access_token,
        {
            "type": "trace/get",
            "domain": "automation",
            "item_id": CHARGE_ID,
            "run_id": runs[-1]["run_id"],
        },
    )
    for steps in trace["trace"].values():
        for step in steps:
            if "window" in step.get("changed_variables", {}):
                return dict(step["changed_variables"]["window"])
    return None


def test_the_blueprint_switches_on_at_the_start_of_the_returned_window(
    stack: Stack, entry_id: str
) -> None:
    """Plan in a few seconds; the cheapest minute begins half a minute later.

    The sandbox prices one minute apart (0.01 GBP/kWh) so that the window is
    known: the automation must find it, wait for it, switch on at its start
    and off at its end.
    """
    target = stack.hass.config_dir / "blueprints" / "automation" / "flatpeak"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy(CHARGE_BLUEPRINT, target / CHARGE_BLUEPRINT.name)
    assert switch(stack)["state"] == "off"
    plan = datetime.now(LONDON).replace(microsecond=0) + timedelta(seconds=20)
    cheap = plan + timedelta(seconds=30)
    stack.sandbox.control(
        price_override={
            "start": cheap.isoformat(),
            "end": (cheap + timedelta(minutes=1)).isoformat(),
            "value": 0.01,
        }
    )
    try:
        answer = stack.api(
            "POST",
            f"/api/config/automation/config/{CHARGE_ID}",
            {
                "alias": "Charge in the cheapest window",
                "description": "",
                "use_blueprint": {
                    "path": f"flatpeak/{CHARGE_BLUEPRINT.name}",
                    "input": {
                        "config_entry": entry_id,
                        "device": BLUEPRINT_DEVICE_ID,
                        "minutes": 1,
                        "plan_time": plan.strftime("%H:%M:%S"),
                        "ready_by": (plan + timedelta(minutes=10)).strftime("%H:%M:%S"),
                        "switches": [DEMO_SWITCH],
                    },
                },
            },
        )
        assert answer == {"result": "ok"}
        window = wait_for(
            lambda: planned_window(stack), timeout=40, what="the planned window"
        )
        assert [(p["start"], p["end"]) for p in window["periods"]] == [
            (cheap.isoformat(), (cheap + timedelta(minutes=1)).isoformat())
        ]
        assert switch(stack)["state"] == "off"
        on = wait_for(
            lambda: (s := switch(stack))["state"] == "on" and s,
            timeout=45,
            what="the switch on",
        )
        switched_on = datetime.fromisoformat(on["last_changed"])
        assert abs((switched_on - cheap).total_seconds()) < ON_TIME
        off = wait_for(
            lambda: (s := switch(stack))["state"] == "off" and s,
            timeout=75,
            what="the switch off",
        )
        switched_off = datetime.fromisoformat(off["last_changed"])
        end = cheap + timedelta(minutes=1)
        assert abs((switched_off - end).total_seconds()) < ON_TIME
    finally:
        stack.sandbox.control(price_override=None)
        with contextlib.suppress(HttpError):
            stack.api("DELETE", f"/api/config/automation/config/{CHARGE_ID}")
