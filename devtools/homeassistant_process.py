"""A real Home Assistant process for scripts/develop and the end-to-end tests.

Prepares a config directory (the integration linked in, the HTTP server set up
in .storage so that no "confirm new HTTP configuration" trial starts, the
onboarding steps other than the owner's account marked done), starts `hass`,
restarts it when it exits with code 100 (a restart request), and onboards the
owner over REST.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
import json
import os
from pathlib import Path
import shutil
import socket
import subprocess
import sys
import threading
import time
from typing import Any
import urllib.error
import urllib.parse
import urllib.request

import aiohttp

REPO = Path(__file__).resolve().parent.parent
RESTART_EXIT_CODE = 100


# The demo home's Energy dashboard: the simulated battery, with its state of
# charge, power (positive = discharging) and capacity, as the dashboard saves it.
DEMO_ENERGY: dict[str, Any] = {
    "version": 1,
    "minor_version": 3,
    "key": "energy",
    "data": {
        "energy_sources": [
            {
                "type": "battery",
                "stat_energy_from": "sensor.demo_battery_energy_discharged",
                "stat_energy_to": "sensor.demo_battery_energy_charged",
                "stat_rate": "sensor.demo_battery_power",
                "stat_soc": "sensor.demo_battery_state_of_charge",
                "capacity": 13.5,
            }
        ],
        "device_consumption": [],
        "device_consumption_water": [],
    },
}


def free_port() -> int:
    """Return a free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare_config(config_dir: Path, port: int) -> None:
    """Create or refresh a config directory for a Home Assistant on ``port``."""
    config_dir.mkdir(parents=True, exist_ok=True)
    source = REPO / "config" / "configuration.yaml"
    target = config_dir / "configuration.yaml"
    if target.resolve() != source.resolve():
        shutil.copyfile(source, target)
    for name in ("automations.yaml", "scripts.yaml", "scenes.yaml"):
        (config_dir / name).touch()
    # configuration.yaml includes it: an empty list, as onboarding writes it.
    automations = config_dir / "automations.yaml"
    if not automations.read_text().strip():
        automations.write_text("[]\n")
    custom = config_dir / "custom_components"
    custom.mkdir(exist_ok=True)
    for name, source_dir in (
        ("flatpeak", REPO / "custom_components" / "flatpeak"),
        # The demo home's battery as a device (the demo only).
        ("demo_battery", REPO / "config" / "custom_components" / "demo_battery"),
    ):
        link = custom / name
        if not link.exists():
            link.symlink_to(source_dir, target_is_directory=True)
    storage = config_dir / ".storage"
    storage.mkdir(exist_ok=True)
    http = {
        "version": 2,
        "minor_version": 2,
        "key": "http",
        "data": {
            "stable": {
                "server_host": ["127.0.0.1"],
                "server_port": port,
                "cors_allowed_origins": ["https://cast.home-assistant.io"],
                "login_attempts_threshold": -1,
                "ip_ban_enabled": False,
                "ssl_profile": "modern",
                "use_x_frame_options": True,
                "created_at": datetime.now(UTC).isoformat(),
                "error": None,
                "error_message": None,
            },
            "pending": None,
            "yaml_migration_done": True,
        },
    }
    (storage / "http").write_text(json.dumps(http, indent=2))
    energy = storage / "energy"
    if not energy.exists():
        energy.write_text(json.dumps(DEMO_ENERGY, indent=2))
    onboarding = storage / "onboarding"
    if not onboarding.exists():
        # Location, units and time zone come from configuration.yaml; skipping
        # these steps also keeps away the integrations onboarding creates
        # (met, radio_browser, google_translate), which need the internet.
        onboarding.write_text(
            json.dumps(
                {
                    "version": 4,
                    "minor_version": 1,
                    "key": "onboarding",
                    "data": {"done": ["core_config", "analytics", "integration"]},
                }
            )
        )


class HttpError(Exception):
    """A request to Home Assistant or the sandbox failed."""

    def __init__(self, status: int, body: str) -> None:
        """Keep the status and the body."""
        super().__init__(f"HTTP {status}: {body[:500]}")
        self.status = status
        self.body = body


def request(
    method: str,
    url: str,
    *,
    json_body: Any = None,
    form: dict[str, str] | None = None,
    token: str | None = None,
    timeout: float = 30,
) -> Any:
    """Send a request; return the decoded JSON answer (or text)."""
    headers = {}
    data: bytes | None = None
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json"
    elif form is not None:
        data = urllib.parse.urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310
            text = response.read().decode()
    except urllib.error.HTTPError as err:
        raise HttpError(err.code, err.read().decode(errors="replace")) from None
    try:
        return json.loads(text) if text else None
    except ValueError:
        return text


def websocket(url: str, token: str, message: dict[str, Any]) -> Any:
    """Send one command over Home Assistant's websocket API; return its result.

    For what the REST API does not offer (e.g. a config entry's subentries).
    """

    async def send() -> Any:
        async with aiohttp.ClientSession() as session:
            ws_url = url.replace("http", "ws", 1) + "/api/websocket"
            async with session.ws_connect(ws_url) as socket_:
                await socket_.receive_json()  # auth_required
                await socket_.send_json({"type": "auth", "access_token": token})
                answer = await socket_.receive_json()
                if answer.get("type") != "auth_ok":
                    raise HttpError(401, json.dumps(answer))
                await socket_.send_json({"id": 1, **message})
                answer = await socket_.receive_json()
                if not answer.get("success"):
                    raise HttpError(400, json.dumps(answer))
                return answer["result"]

    return asyncio.run(send())


@dataclass
class Owner:
    """The owner account and its tokens."""

    username: str
    password: str
    access_token: str = ""
    refresh_token: str = ""


class HomeAssistantProcess:
    """Runs `hass` on a config directory; restarts it after a restart request."""

    def __init__(
        self, config_dir: Path, port: int, log_path: Path, *, skip_pip: bool = False
    ) -> None:
        """Remember where and how to run; nothing starts yet.

        ``skip_pip``: never install requirements at start (the tests use it, so
        that a requirement missing from requirements_test.txt fails loudly).
        """
        self.config_dir = config_dir
        self.skip_pip = skip_pip
        self.port = port
        self.log_path = log_path
        self.url = f"http://127.0.0.1:{port}"
        self.starts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        """Start Home Assistant and supervise it in a thread."""
        self._stop.clear()
        self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()

    def _spawn(self) -> None:
        self.starts += 1
        log = self.log_path.open("ab")
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        config_dir = self.config_dir.resolve()
        args = [sys.executable, "-m", "homeassistant", "--config", str(config_dir)]
        if self.skip_pip:
            args.append("--skip-pip")
        self._process = subprocess.Popen(  # noqa: S603
            args,
            # From the config directory, its custom_components/ (the integration
            # and the demo battery, linked in) is the one Python imports, not
            # this repository's.
            cwd=config_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )

    def _supervise(self) -> None:
        while not self._stop.is_set():
            process = self._process
            if process is None:
                return
            code = process.wait()
            if self._stop.is_set():
                return
            if code != RESTART_EXIT_CODE:
                print(
                    f"Home Assistant exited with code {code}; see {self.log_path}",
                    file=sys.stderr,
                )
                return
            self._spawn()

    @property
    def running(self) -> bool:
        """Return whether the process is alive."""
        return self._process is not None and self._process.poll() is None

    def wait_until_ready(self, timeout: float = 180) -> None:
        """Wait until the HTTP API answers (401 without a token means up)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                request("GET", f"{self.url}/api/", timeout=2)
            except HttpError as err:
                if err.status == 401:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise TimeoutError(
            f"Home Assistant did not answer on {self.url}; see {self.log_path}"
        )

    def stop(self, timeout: float = 60) -> None:
        """Stop Home Assistant (SIGTERM, then SIGKILL)."""
        self._stop.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._supervisor is not None:
            self._supervisor.join(5)

    def kill(self) -> None:
        """Kill Home Assistant at once (SIGKILL, like a power cut); no restart."""
        self._stop.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        if self._supervisor is not None:
            self._supervisor.join(5)

    def wait_for_restart(self, starts_before: int, timeout: float = 180) -> None:
        """Wait until a restart request brought a new process up and ready."""
        deadline = time.monotonic() + timeout
        while self.starts == starts_before and time.monotonic() < deadline:
            time.sleep(0.2)
        self.wait_until_ready(max(1.0, deadline - time.monotonic()))

    # --- onboarding and login --------------------------------------------------

    def _token_from_code(self, code: str) -> dict[str, Any]:
        answer: dict[str, Any] = request(
            "POST",
            f"{self.url}/auth/token",
            form={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": f"{self.url}/",
            },
        )
        return answer

    def onboarded(self) -> bool:
        """Return whether the owner account exists."""
        try:
            steps = request("GET", f"{self.url}/api/onboarding")
        except HttpError as err:
            if err.status == 404:  # onboarding is over: its views are gone
                return True
            raise
        return all(step["done"] for step in steps)

    def onboard(self, owner: Owner, name: str = "Demo owner") -> Owner:
        """Create the owner account (the last onboarding step) and log in."""
        answer = request(
            "POST",
            f"{self.url}/api/onboarding/users",
            json_body={
                "client_id": f"{self.url}/",
                "name": name,
                "username": owner.username,
                "password": owner.password,
                "language": "en",
            },
        )
        tokens = self._token_from_code(answer["auth_code"])
        owner.access_token = tokens["access_token"]
        owner.refresh_token = tokens["refresh_token"]
        return owner

    def login(self, owner: Owner) -> Owner:
        """Log an existing user in through the login flow."""
        flow = request(
            "POST",
            f"{self.url}/auth/login_flow",
            json_body={
                "client_id": f"{self.url}/",
                "handler": ["homeassistant", None],
                "redirect_uri": f"{self.url}/",
            },
        )
        result = request(
            "POST",
            f"{self.url}/auth/login_flow/{flow['flow_id']}",
            json_body={
                "client_id": f"{self.url}/",
                "username": owner.username,
                "password": owner.password,
            },
        )
        tokens = self._token_from_code(result["result"])
        owner.access_token = tokens["access_token"]
        owner.refresh_token = tokens["refresh_token"]
        return owner

    def ensure_owner(self, owner: Owner) -> Owner:
        """Onboard on a fresh config directory, else log in."""
        return self.login(owner) if self.onboarded() else self.onboard(owner)


class SandboxProcess:
    """The Flatpeak sandbox in its own process."""

    def __init__(self, port: int, log_path: Path, device_ids: list[str]) -> None:
        """Remember how to run it; nothing starts yet."""
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self.device_ids = device_ids
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the sandbox and wait until it answers."""
        args = [sys.executable, "-m", "flatpeak_sandbox", "--port", str(self.port)]
        for device_id in self.device_ids:
            args += ["--device-id", device_id]
        self._process = subprocess.Popen(  # noqa: S603
            args,
            cwd=REPO,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                request("GET", f"{self.url}/_sandbox/states", timeout=2)
            except OSError:
                time.sleep(0.1)
            else:
                return
        raise TimeoutError(f"The sandbox did not start; see {self.log_path}")

    def stop(self) -> None:
        """Stop the sandbox."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            self._process.wait(10)

    def states(self, device_id: str | None = None) -> list[dict[str, Any]]:
        """Return the records the sandbox accepted."""
        query = f"?device_id={device_id}" if device_id else ""
        listing: dict[str, Any] = request("GET", f"{self.url}/_sandbox/states{query}")
        return list(listing["data"])

    def control(self, **body: Any) -> None:
        """Script faults (``outage=True``, ``status=503``, ``clear=True``…)."""
        request("POST", f"{self.url}/_sandbox/faults", json_body=body)
