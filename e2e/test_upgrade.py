"""An upgrade from 0.2.0 with a backlog, in a real Home Assistant: nothing lost, nothing twice.

0.2.0 (main's commit cb1d9cb, vendored as tests/fixtures/flatpeak-0.2.0.tar.gz:
CI's clone may be shallow) runs first with two entries of one account, one per
device. Flatpeak goes down and records queue; Home Assistant stops; this
version replaces 0.2.0 in the same config directory and starts; Flatpeak is
back. Every queued record arrives exactly once (the sandbox counts a
``record_reference_id`` seen twice), the entity IDs are the same, and the two
entries are one account entry with two device subentries.
"""

from collections.abc import Iterator
from functools import partial
from pathlib import Path
import shutil
import tarfile
from typing import Any

import pytest

from devtools.homeassistant_process import (
    HomeAssistantProcess,
    Owner,
    SandboxProcess,
    free_port,
    prepare_config,
    request,
    websocket,
)
from flatpeak_sandbox import DEFAULT_ACCOUNT_ID, DEFAULT_DEVICE_ID, DEFAULT_SECRET_KEY

from .conftest import BROWSER_DEVICE_ID, Stack, wait_for

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
RELEASE_0_2_0 = REPO / "tests" / "fixtures" / "flatpeak-0.2.0.tar.gz"
DEVICES = (DEFAULT_DEVICE_ID, BROWSER_DEVICE_ID)
SOC = "sensor.upgrade_battery_soc"
TARGET = "sensor.upgrade_battery_target"
MAPPING = {
    "state_of_charge_entity": SOC,
    "target_state_of_charge_entity": TARGET,
    "battery_power_sign": "positive_discharging",
}
# The queued states of charge (each a record of each device).
BACKLOG = (31.0, 32.0, 33.0, 34.0)
# 0.2.0 named every device "Flatpeak battery": the second one's IDs end in _2.
QUEUED = (
    "sensor.flatpeak_battery_queued_records",
    "sensor.flatpeak_battery_queued_records_2",
)


def install_0_2_0(config_dir: Path) -> None:
    """Put 0.2.0's integration where Home Assistant loads it."""
    target = config_dir / "custom_components" / "flatpeak"
    remove(target)
    with tarfile.open(RELEASE_0_2_0) as archive:
        archive.extractall(config_dir, filter="data")
    assert (target / "manifest.json").read_text().count('"version": "0.2.0"') == 1


def install_this_version(config_dir: Path) -> None:
    """Replace 0.2.0 by this repository's integration (as HACS replaces the folder)."""
    target = config_dir / "custom_components" / "flatpeak"
    remove(target)
    target.symlink_to(REPO / "custom_components" / "flatpeak", target_is_directory=True)


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


@pytest.fixture
def old_stack(tmp_path: Path) -> Iterator[Stack]:
    """The sandbox and a Home Assistant running 0.2.0."""
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    config_dir = tmp_path / "config"
    port = free_port()
    prepare_config(config_dir, port)
    install_0_2_0(config_dir)
    sandbox = SandboxProcess(free_port(), tmp_path / "sandbox.log", list(DEVICES))
    log = tmp_path / "home-assistant.log"
    hass = HomeAssistantProcess(config_dir, port, log, skip_pip=True)
    try:
        sandbox.start()
        hass.start()
        hass.wait_until_ready()
        owner = hass.onboard(Owner("e2e", "e2e-password-1"))
        yield Stack(hass, sandbox, owner, artifacts)
    finally:
        hass.stop()
        sandbox.stop()
        text = log.read_text(errors="replace") if log.exists() else ""
        (artifacts / "e2e-upgrade-home-assistant.log").write_text(text)


def set_soc(stack: Stack, soc: float) -> None:
    stack.api(
        "POST",
        f"/api/states/{SOC}",
        {
            "state": str(soc),
            "attributes": {"unit_of_measurement": "%", "device_class": "battery"},
        },
    )


def add_0_2_0_entry(stack: Stack, device_id: str) -> None:
    """0.2.0's flow: credentials with the device, the entities form; then its
    options (minimum gap 0, so that every change is a record)."""
    flow = stack.api("POST", "/api/config/config_entries/flow", {"handler": "flatpeak"})
    url = f"/api/config/config_entries/flow/{flow['flow_id']}"
    flow = stack.api(
        "POST",
        url,
        {
            "account_id": DEFAULT_ACCOUNT_ID,
            "secret_key": DEFAULT_SECRET_KEY,
            "device_id": device_id,
            "advanced_options": {"api_url": stack.sandbox.url},
        },
    )
    flow = stack.api("POST", url, {"next_step_id": "battery"})
    flow = stack.api("POST", url, MAPPING)
    assert flow["type"] == "create_entry", flow
    options = stack.api(
        "POST",
        "/api/config/config_entries/options/flow",
        {"handler": flow["result"]["entry_id"]},
    )
    url = f"/api/config/config_entries/options/flow/{options['flow_id']}"
    options = stack.api("POST", url, {"next_step_id": "battery"})
    options = stack.api(
        "POST",
        url,
        {
            **MAPPING,
            "submission": {
                "submit_on_change": True,
                "min_interval": 0,
                "heartbeat_interval": 1440,
            },
            "outbox": {"outbox_max_age": 24, "outbox_max_records": 10000},
        },
    )
    assert options["type"] == "create_entry", options


def flatpeak_entities(stack: Stack) -> list[str]:
    answer = stack.api(
        "POST",
        "/api/template",
        {"template": "{{ integration_entities('flatpeak') | sort | join(',') }}"},
    )
    return str(answer).split(",")


def state(stack: Stack, entity_id: str) -> str:
    answer: dict[str, Any] = stack.api("GET", f"/api/states/{entity_id}")
    return str(answer["state"])


def received(stack: Stack, device_id: str) -> tuple[list[dict[str, Any]], int]:
    """Return the bodies the sandbox stored for a device, and its duplicates."""
    listing: dict[str, Any] = request(
        "GET", f"{stack.sandbox.url}/_sandbox/states?device_id={device_id}"
    )
    return [r["body"] for r in listing["data"]], int(listing["duplicates"])


def has_entities(stack: Stack, entity_ids: tuple[str, ...]) -> bool:
    return set(entity_ids) <= set(flatpeak_entities(stack))


def received_socs(stack: Stack, device_id: str) -> set[float]:
    return {b["state_of_charge_percent"] for b in received(stack, device_id)[0]}


def has_backlog(stack: Stack, device_id: str) -> bool:
    return received_socs(stack, device_id) >= set(BACKLOG)


def queued_at_least(stack: Stack, entity_id: str, count: int) -> bool:
    return int(state(stack, entity_id)) >= count


def queued_at_most(stack: Stack, entity_id: str, count: int) -> bool:
    return int(state(stack, entity_id)) <= count


def test_upgrade_from_0_2_0_with_a_backlog_loses_nothing(old_stack: Stack) -> None:
    stack = old_stack
    set_soc(stack, 30)
    stack.api(
        "POST",
        f"/api/states/{TARGET}",
        {"state": "80", "attributes": {"unit_of_measurement": "%"}},
    )
    for device_id in DEVICES:
        add_0_2_0_entry(stack, device_id)
    for device_id in DEVICES:
        wait_for(partial(received_socs, stack, device_id), what=f"{device_id} online")
    # Both entries loaded (their options reloaded them): every entity is there.
    wait_for(partial(has_entities, stack, QUEUED), what="the entities of both entries")
    before = flatpeak_entities(stack)
    assert len(before) == 2 * 8  # consecutive failures is disabled by default

    # An outage: every change queues, for both devices.
    stack.sandbox.control(outage=True)
    for count, soc in enumerate(BACKLOG, start=1):
        set_soc(stack, soc)
        for queued in QUEUED:
            wait_for(
                partial(queued_at_least, stack, queued, count),
                what=f"{count} records in {queued}",
            )
    stack.hass.stop()

    # This version, on the same config directory; Flatpeak is back.
    install_this_version(stack.hass.config_dir)
    stack.hass.start()
    stack.hass.wait_until_ready()
    stack.hass.login(stack.owner)
    stack.sandbox.control(outage=False)
    for device_id in DEVICES:
        wait_for(
            partial(has_backlog, stack, device_id),
            timeout=60,
            what=f"the backlog of {device_id}",
        )

    for device_id in DEVICES:
        bodies, duplicates = received(stack, device_id)
        references = [b["record_reference_id"] for b in bodies]
        assert duplicates == 0, f"{device_id}: a record reached Flatpeak twice"
        assert len(references) == len(set(references))
        socs = [b["state_of_charge_percent"] for b in bodies]
        # Each queued state once: the newest (the current state) first, then
        # the backlog oldest first.
        assert [s for s in socs if s in BACKLOG] == [BACKLOG[-1], *BACKLOG[:-1]]
    # Same entity IDs; one account entry with the two devices.
    # Every entity ID of 0.2.0 carries over; what is new is what Flatpeak
    # holds (the reads of 0.3: state at Flatpeak, VPP, prices).
    after = flatpeak_entities(stack)
    assert set(before) <= set(after), set(before) - set(after)
    new = set(after) - set(before)
    reads = (
        "_state_at_flatpeak",
        "_vpp_participation",
        "_telemetry_active_at_flatpeak",
        "_dispatchable",
        "_import_price",
        "_export_price",
    )
    assert new and all(e.endswith(reads) for e in new), new
    entries = stack.api("GET", "/api/config/config_entries/entry?domain=flatpeak")
    assert [e["title"] for e in entries] == [f"Flatpeak {DEFAULT_ACCOUNT_ID}"]
    subentries = websocket(
        stack.hass.url,
        stack.owner.access_token,
        {
            "type": "config_entries/subentries/list",
            "entry_id": entries[0]["entry_id"],
        },
    )
    assert sorted(s["unique_id"] for s in subentries) == sorted(DEVICES)
    for queued in QUEUED:
        wait_for(
            partial(queued_at_most, stack, queued, 0),
            what=f"{queued}: an empty outbox",
        )
