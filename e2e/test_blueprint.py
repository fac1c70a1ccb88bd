"""The blueprint in a real Home Assistant: imported, instantiated, submitting.

The blueprint file goes into the config's blueprints/ folder (where an import
puts it), an automation is created from it over REST, and a change of the
chosen entity reaches the sandbox. The entry submits nothing on its own here
(no submit on change, a daily heartbeat), so every record is the blueprint's.
"""

from collections.abc import Iterator
import contextlib
from pathlib import Path
import shutil
import time
from typing import Any

import pytest

from devtools.homeassistant_process import HttpError

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


@pytest.fixture
def entry_id(stack: Stack) -> Iterator[str]:
    """Add the entry; remove it and the automation afterwards.

    The other end-to-end tests start from a home without Flatpeak entries (the
    browser test adds the integration from the dashboard).
    """
    set_state(stack, SOC, "64", unit_of_measurement="%", device_class="battery")
    set_state(stack, PRICE, "0.30", unit_of_measurement="EUR/kWh")
    entry_id = add_entry(stack, BLUEPRINT_DEVICE_ID, MAPPING, SUBMISSION)
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
