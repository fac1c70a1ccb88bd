"""A real Home Assistant and the sandbox, each in its own process, for the session.

Run alone with `scripts/e2e` (or `pytest -p no:homeassistant -m e2e e2e`): the
Home Assistant test harness plugin must be off, it blocks sockets.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
import time
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

BROWSER_DEVICE_ID = "dev_sandbox0000000000000002"
BLUEPRINT_DEVICE_ID = "dev_sandbox0000000000000003"


@dataclass
class Stack:
    """What the end-to-end tests talk to."""

    hass: HomeAssistantProcess
    sandbox: SandboxProcess
    owner: Owner
    artifacts: Path

    def api(self, method: str, path: str, body: Any = None) -> Any:
        """Call Home Assistant's REST API as the owner."""
        return request(
            method,
            f"{self.hass.url}{path}",
            json_body=body,
            token=self.owner.access_token,
        )


def wait_for(
    check: Callable[[], Any], timeout: float = 30, what: str = "condition"
) -> Any:
    """Poll ``check`` until it returns something truthy (a bounded wait)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def entities_form(stack: Stack, flow: dict[str, Any], kind: str = "flow") -> Any:
    """Leave the battery step's choice of source for the entities form.

    The demo home offers the Energy dashboard and the demo battery's device
    too; these tests map their own entities. ``kind``: ``flow`` (the first
    run) or ``subentries/flow`` (a device of an account).
    """
    assert flow["type"] == "menu", flow
    assert flow["step_id"] == "battery_source"
    return stack.api(
        "POST",
        f"/api/config/config_entries/{kind}/{flow['flow_id']}",
        {"next_step_id": "battery"},
    )


def credentials(stack: Stack, secret_key: str = DEFAULT_SECRET_KEY) -> dict[str, Any]:
    """Return the config flow's first form, filled in for the stack's sandbox."""
    return {
        "account_id": DEFAULT_ACCOUNT_ID,
        "secret_key": secret_key,
        "advanced_options": {"api_url": stack.sandbox.url},
    }


def account_entry(stack: Stack) -> str | None:
    """Return the ID of the Flatpeak account entry, if there is one."""
    entries = stack.api("GET", "/api/config/config_entries/entry?domain=flatpeak")
    return str(entries[0]["entry_id"]) if entries else None


def subentry_of(stack: Stack, entry_id: str, device_id: str) -> str:
    """Return the subentry ID of a Flatpeak device of the account."""
    subentries = websocket(
        stack.hass.url,
        stack.owner.access_token,
        {"type": "config_entries/subentries/list", "entry_id": entry_id},
    )
    return next(
        str(s["subentry_id"]) for s in subentries if s["unique_id"] == device_id
    )


def set_settings(
    stack: Stack, entry_id: str, subentry_id: str, submission: dict[str, Any]
) -> None:
    """Save a device's submission settings over REST ("Change device" → settings)."""
    flow = stack.api(
        "POST",
        "/api/config/config_entries/subentries/flow",
        {"handler": [entry_id, "device"], "subentry_id": subentry_id},
    )
    assert flow["type"] == "menu", flow
    url = f"/api/config/config_entries/subentries/flow/{flow['flow_id']}"
    flow = stack.api("POST", url, {"next_step_id": "settings"})
    flow = stack.api(
        "POST",
        url,
        {
            **submission,
            "outbox": {"outbox_max_age": 24, "outbox_max_records": 10000},
        },
    )
    assert flow["type"] == "abort", flow
    assert flow["reason"] == "reconfigure_successful", flow


def add_entry(
    stack: Stack,
    device_id: str,
    mapping: dict[str, Any],
    submission: dict[str, Any],
) -> str:
    """Add a Flatpeak device over REST, with its settings; the account entry's ID.

    The first device creates the account entry (the first run); another one
    is added to the account ("Add device").
    """
    if (entry_id := account_entry(stack)) is None:
        flow = stack.api(
            "POST", "/api/config/config_entries/flow", {"handler": "flatpeak"}
        )
        url = f"/api/config/config_entries/flow/{flow['flow_id']}"
        flow = stack.api("POST", url, credentials(stack))
        flow = stack.api("POST", url, {"device_id": device_id})
        flow = entities_form(stack, flow)
        flow = stack.api("POST", url, mapping)
        assert flow["type"] == "create_entry", flow
        entry_id = str(flow["result"]["entry_id"])
    else:
        flow = stack.api(
            "POST",
            "/api/config/config_entries/subentries/flow",
            {"handler": [entry_id, "device"]},
        )
        url = f"/api/config/config_entries/subentries/flow/{flow['flow_id']}"
        flow = stack.api("POST", url, {"device_id": device_id})
        flow = entities_form(stack, flow, "subentries/flow")
        flow = stack.api("POST", url, mapping)
        assert flow["type"] == "create_entry", flow
    set_settings(stack, entry_id, subentry_of(stack, entry_id, device_id), submission)
    return entry_id


@contextmanager
def running_stack(
    root: Path, device_ids: list[str], log_name: str = "e2e-home-assistant.log"
) -> Iterator[Stack]:
    """Run the sandbox and Home Assistant on free ports in ``root``; stop both.

    Home Assistant's log is copied to ``artifacts/<log_name>`` at the end.
    """
    artifacts = Path(__file__).resolve().parent.parent / "artifacts"
    artifacts.mkdir(exist_ok=True)
    config_dir = root / "config"
    port = free_port()
    prepare_config(config_dir, port)
    sandbox = SandboxProcess(free_port(), root / "sandbox.log", device_ids)
    hass = HomeAssistantProcess(
        config_dir, port, root / "home-assistant.log", skip_pip=True
    )
    try:
        sandbox.start()
        hass.start()
        hass.wait_until_ready()
        owner = hass.onboard(Owner("e2e", "e2e-password-1"))
        yield Stack(hass, sandbox, owner, artifacts)
    finally:
        hass.stop()
        sandbox.stop()
        log = root / "home-assistant.log"
        text = log.read_text(errors="replace") if log.exists() else ""
        (artifacts / log_name).write_text(text)
    # Every requirement is preinstalled (hass runs with --skip-pip): a missing
    # one would hang the frontend or leave an integration unloaded.
    for sign in ("ModuleNotFoundError", "Unable to install", "Requirements for"):
        assert sign not in text, f"{sign} in the Home Assistant log (artifacts/)"


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The shared stack: the sandbox and Home Assistant for the session."""
    with running_stack(
        tmp_path_factory.mktemp("e2e"),
        [DEFAULT_DEVICE_ID, BROWSER_DEVICE_ID, BLUEPRINT_DEVICE_ID],
    ) as shared:
        yield shared


@pytest.fixture
def own_stack(tmp_path: Path) -> Iterator[Stack]:
    """A stack of the test's own, for a test that kills or breaks it."""
    with running_stack(
        tmp_path, [DEFAULT_DEVICE_ID], "e2e-own-home-assistant.log"
    ) as own:
        yield own
