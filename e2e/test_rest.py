"""Flatpeak in a real Home Assistant, driven over its REST API.

The tests run in order and share one Home Assistant: add the entry, drive the
battery, check the entities, call the action, then an outage across a restart.
"""

from typing import Any

import pytest

from devtools.homeassistant_process import HttpError
from flatpeak_sandbox import DEFAULT_DEVICE_ID

from .conftest import (
    Stack,
    credentials,
    entities_form,
    set_settings,
    subentry_of,
    wait_for,
)

pytestmark = pytest.mark.e2e

SOC = "sensor.e2e_battery_soc"
TARGET = "sensor.e2e_battery_target"
POWER = "sensor.e2e_battery_power"
ENERGY = "sensor.e2e_battery_energy"
MAPPING = {
    "state_of_charge_entity": SOC,
    "target_state_of_charge_entity": TARGET,
    "battery_power_entity": POWER,
    "battery_power_sign": "positive_discharging",
    "energy_remaining_entity": ENERGY,
    "backup_reserve_percent": 20,
}
# The device is named from what Flatpeak says of it; Home Assistant gives its
# entities back the IDs they had when the same device was set up before (in
# test_browser): look them up by their key.


def set_battery(
    stack: Stack, soc: float, power: float = 2500, energy: float = 7000
) -> None:
    """Write the battery's states the way a sensor integration would."""
    for entity_id, state, attributes in (
        (SOC, soc, {"unit_of_measurement": "%", "device_class": "battery"}),
        (TARGET, 80, {"unit_of_measurement": "%"}),
        (POWER, power, {"unit_of_measurement": "W", "device_class": "power"}),
        (
            ENERGY,
            energy,
            {"unit_of_measurement": "Wh", "device_class": "energy_storage"},
        ),
    ):
        stack.api(
            "POST",
            f"/api/states/{entity_id}",
            {"state": str(state), "attributes": attributes},
        )


def eid(stack: Stack, domain: str, key: str) -> str:
    """Return the entity ID of the device's entity ``key`` (by its unique ID)."""
    answer = stack.api(
        "POST",
        "/api/template",
        {
            "template": "{{ integration_entities('flatpeak') | select('search', "
            f"'^{domain}[.].*{key}(_[0-9]+)?$') | first }}}}"
        },
    )
    return str(answer)


def state(stack: Stack, entity_id: str) -> str:
    """Return an entity's state ("" while it does not exist, e.g. during a reload)."""
    try:
        answer: dict[str, Any] = stack.api("GET", f"/api/states/{entity_id}")
    except HttpError as err:
        if err.status == 404:
            return ""
        raise
    return str(answer["state"])


def queued(stack: Stack) -> int:
    """Return the number of records waiting in the outbox."""
    return int(state(stack, eid(stack, "sensor", "queued_records")))


def wait_until_queued(stack: Stack, count: int) -> None:
    """Wait until at least ``count`` records wait in the outbox."""
    wait_for(lambda: queued(stack) >= count, what=f"{count} queued records")


def records_with_soc(stack: Stack, soc: float) -> list[dict[str, Any]]:
    return [
        r
        for r in stack.sandbox.states(DEFAULT_DEVICE_ID)
        if r["body"]["state_of_charge_percent"] == soc
    ]


def test_create_entry_through_the_flow(stack: Stack) -> None:
    set_battery(stack, 55)
    flow = stack.api("POST", "/api/config/config_entries/flow", {"handler": "flatpeak"})
    assert flow["step_id"] == "user"
    assert [field["name"] for field in flow["data_schema"]] == [
        "account_id",
        "secret_key",
        "advanced_options",
    ]
    url = f"/api/config/config_entries/flow/{flow['flow_id']}"
    flow = stack.api("POST", url, credentials(stack, "sk_test_wrong"))
    assert flow["errors"] == {"secret_key": "invalid_auth"}
    flow = stack.api("POST", url, credentials(stack))
    assert flow["step_id"] == "device"
    flow = stack.api("POST", url, {"device_id": "dev_unknown"})
    assert flow["errors"] == {"device_id": "device_not_found"}
    flow = stack.api("POST", url, {"device_id": DEFAULT_DEVICE_ID})
    flow = entities_form(stack, flow)
    assert flow["step_id"] == "battery"
    flow = stack.api("POST", url, MAPPING)
    assert flow["type"] == "create_entry"
    assert flow["title"] == "Flatpeak acc_sandbox0000000000000000"
    entry_id = flow["result"]["entry_id"]
    # A short minimum gap so that the test's changes each make a snapshot.
    set_settings(
        stack,
        entry_id,
        subentry_of(stack, entry_id, DEFAULT_DEVICE_ID),
        {"submit_on_change": True, "min_interval": 1, "heartbeat_interval": 5},
    )
    wait_for(
        lambda: state(stack, eid(stack, "binary_sensor", "api_connection")) == "on",
        what="the entry",
    )


def test_states_reach_the_sandbox(stack: Stack) -> None:
    set_battery(stack, 61.5, power=-2500, energy=7250)
    [record] = wait_for(
        lambda: records_with_soc(stack, 61.5), what="the record at the sandbox"
    )
    body = record["body"]
    assert body["target_state_of_charge_percent"] == 80
    assert body["battery_power_kw"] == 2.5
    assert body["energy_flow_direction"] == "IMPORT"  # negative = charging
    assert body["energy_remaining_kwh"] == 7.25
    assert body["backup_reserve_percent"] == 20
    assert body["record_reference_id"].startswith("ha_")
    assert body["time"].endswith("Z")


def test_diagnostic_entities(stack: Stack) -> None:
    wait_for(
        lambda: state(stack, eid(stack, "sensor", "submission_status")) == "ok",
        what="status ok",
    )
    assert state(stack, eid(stack, "binary_sensor", "api_connection")) == "on"
    assert state(stack, eid(stack, "sensor", "queued_records")) == "0"
    assert state(stack, eid(stack, "sensor", "last_submission")).startswith("20")
    assert state(stack, eid(stack, "button", "submit_now"))


def test_action_with_response(stack: Stack) -> None:
    entries = stack.api("GET", "/api/config/config_entries/entry?domain=flatpeak")
    [entry_id] = [e["entry_id"] for e in entries]
    answer = stack.api(
        "POST",
        "/api/services/flatpeak/submit_device_state?return_response",
        {"config_entry_id": entry_id, "state_of_charge_percent": 42},
    )
    response = answer["service_response"]
    assert response["device_id"] == DEFAULT_DEVICE_ID
    assert response["body"]["state_of_charge_percent"] == 42
    [record] = records_with_soc(stack, 42)
    assert record["id"] == response["id"]
    assert record["body"] == response["body"]


def test_outage_across_a_restart_loses_nothing(stack: Stack) -> None:
    stack.sandbox.control(outage=True)
    for count, soc in enumerate((70, 71, 72), start=1):
        set_battery(stack, soc)
        wait_until_queued(stack, count)
    assert queued(stack) == 3
    assert state(stack, eid(stack, "binary_sensor", "api_connection")) == "off"
    starts = stack.hass.starts
    stack.api("POST", "/api/services/homeassistant/restart", {})
    stack.hass.wait_for_restart(starts)
    stack.sandbox.control(outage=False)
    wait_for(
        lambda: all(records_with_soc(stack, soc) for soc in (70, 71, 72)),
        timeout=60,
        what="the queued records after the restart",
    )
    records = stack.sandbox.states(DEFAULT_DEVICE_ID)
    references = [r["body"]["record_reference_id"] for r in records]
    assert len(references) == len(set(references))
    for soc in (70, 71, 72):
        assert len(records_with_soc(stack, soc)) == 1
    times = [
        r["body"]["time"]
        for r in records
        if r["body"]["state_of_charge_percent"] in (70, 71, 72)
    ]
    # The current state (the newest record) first, then the backlog oldest first.
    assert times[0] == max(times)
    assert times[1:] == sorted(times[1:])
    wait_for(
        lambda: state(stack, eid(stack, "sensor", "queued_records")) == "0",
        what="an empty outbox",
    )
