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


def entities_form(stack: Stack, flow: dict[str, Any], options: bool = False) -> Any:
    """Leave the battery step's choice of source for the entities form.

    The demo home offers the Energy dashboard and the demo battery's device
    too; these tests map their own entities.
    """
    assert flow["type"] == "menu", flow
    assert flow["step_id"] == "battery_source"
    kind = "options/flow" if options else "flow"
    return stack.api(
        "POST",
        f"/api/config/config_entries/{kind}/{flow['flow_id']}",
        {"next_step_id": "battery"},
    )


def credentials(
    stack: Stack, device_id: str, secret_key: str = DEFAULT_SECRET_KEY
) -> dict[str, Any]:
    """Return the config flow's first form, filled in for the stack's sandbox."""
    return {
        "account_id": DEFAULT_ACCOUNT_ID,
        "secret_key": secret_key,
        "device_id": device_id,
        "advanced_options": {"api_url": stack.sandbox.url},
    }


def set_options(
    stack: Stack,
    entry_id: str,
    mapping: dict[str, Any],
    submission: dict[str, Any],
) -> None:
    """Save the entry's options over REST: its entities and how it submits."""
    options = stack.api(
        "POST", "/api/config/config_entries/options/flow", {"handler": entry_id}
    )
    options = entities_form(stack, options, options=True)
    options = stack.api(
        "POST",
        f"/api/config/config_entries/options/flow/{options['flow_id']}",
        {
            **mapping,
            "submission": submission,
            "outbox": {"outbox_max_age": 24, "outbox_max_records": 10000},
        },
    )
    assert options["type"] == "create_entry", options


def add_entry(
    stack: Stack,
    device_id: str,
    mapping: dict[str, Any],
    submission: dict[str, Any],
) -> str:
    """Add a Flatpeak entry over REST (config flow, then options); its ID."""
    flow = stack.api("POST", "/api/config/config_entries/flow", {"handler": "flatpeak"})
    flow = stack.api(
        "POST",
        f"/api/config/config_entries/flow/{flow['flow_id']}",
        credentials(stack, device_id),
    )
    flow = entities_form(stack, flow)
    flow = stack.api(
        "POST", f"/api/config/config_entries/flow/{flow['flow_id']}", mapping
    )
    assert flow["type"] == "create_entry", flow
    entry_id = str(flow["result"]["entry_id"])
    set_options(stack, entry_id, mapping, submission)
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
