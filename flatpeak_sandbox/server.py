"""A local HTTP server that speaks the Flatpeak API, with scriptable faults.

Tests and the demo talk to it over loopback instead of the real service. It
implements ``POST /auth/tokens``, ``GET /devices/{device_id}`` and
``PUT /devices/{device_id}/state``, validates every state body strictly, keeps
what it accepted, and exposes that at ``GET /_sandbox/states`` (JSON) and
``GET /_sandbox`` (an HTML page). The read endpoints (the state Flatpeak
holds, locations, VPP participations, prices, schedules) are in ``reads``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
import json
import secrets
import time
from typing import Any, cast

from aiohttp import web

from .page import flag, render_page
from .reads import ReadEndpoints
from .schema import SchemaError, validate_device_state

DEFAULT_ACCOUNT_ID = "acc_sandbox0000000000000000"
DEFAULT_SECRET_KEY = "sk_test_sandbox_secret"
DEFAULT_DEVICE_ID = "dev_sandbox0000000000000001"
# Batteries of several makes for the demo (several devices of one account).
DEMO_DEVICES: dict[str, dict[str, str]] = {
    "dev_demo1": {
        "manufacturer": "Sandbox Energy",
        "model": "PowerBank 5",
        "reference_id": "demo-garage",
    },
    "dev_demo2": {
        "manufacturer": "Acme Storage",
        "model": "Home 13.5",
        "reference_id": "demo-loft",
    },
    "dev_demo3": {
        "manufacturer": "Volta Cells",
        "model": "Wall 20",
        "reference_id": "demo-barn",
    },
}

# Where the demo batteries are: dev_demo1 and dev_demo2 share one home, so one
# set of prices serves both. Any other device gets a location of its own.
DEVICE_LOCATIONS: dict[str, str] = {
    "dev_demo1": "loc_demo_home",
    "dev_demo2": "loc_demo_home",
    "dev_demo3": "loc_demo_barn",
}

# The first path segment of each read endpoint, and its name for faults.
READ_ENDPOINTS = {
    "locations": "location",
    "vpp-participations": "vpp_participations",
    "prices": "prices",
    "schedules": "schedules",
}

TokenResponse = Callable[[str, float], dict[str, Any]]


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_token_response(token: str, lifetime: float) -> dict[str, Any]:
    """Answer ``POST /auth/tokens`` like Flatpeak's documented login."""
    return {"bearer_token": token, "expires_in": lifetime, "live_mode": False}


@dataclass(slots=True)
class Fault:
    """An answer the sandbox gives instead of the real one, ``count`` times."""

    count: int
    status: int = 500
    # "token", "device", "state" (the PUT), "state_read", "location",
    # "vpp_participations", "prices", "schedules", or None for all.
    endpoint: str | None = None
    retry_after: str | None = None
    code: str | None = None
    body: str | bytes | None = None  # raw body instead of the error envelope
    drop: bool = False  # close the connection without an answer
    headers: dict[str, str] | None = None  # extra response headers
    content_type: str = "application/json"


@dataclass(slots=True)
class RequestRecord:
    """One request the sandbox received and what it answered."""

    method: str
    path: str
    endpoint: str
    status: int
    body: Any = None
    user_agent: str | None = None
    raw_path: str = ""  # the path as sent, percent-encoding kept
    api_version: str | None = None  # the Flatpeak-Version header
    answered_at: float = 0.0  # when the answer was decided (the sandbox's clock)


@dataclass(slots=True)
class StoredState:
    """A device state the sandbox accepted."""

    id: str
    device_id: str
    body: dict[str, Any]
    time_created: datetime

    def as_json(self) -> dict[str, Any]:
        """Return the record as the listing endpoint shows it."""
        return {
            "id": self.id,
            "device_id": self.device_id,
            "time_created": _rfc3339(self.time_created),
            "body": self.body,
        }


class FlatpeakSandbox:
    """The sandbox server; ``await start()`` then use ``url``."""

    def __init__(
        self,
        *,
        account_id: str = DEFAULT_ACCOUNT_ID,
        secret_key: str = DEFAULT_SECRET_KEY,
        device_ids: tuple[str, ...] = (DEFAULT_DEVICE_ID,),
        token_lifetime: float = 3600,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Configure credentials, devices and where to listen (port 0: any free)."""
        self.account_id = account_id
        self.secret_key = secret_key
        self.token_lifetime = token_lifetime
        self.token_response: TokenResponse = default_token_response
        self.host = host
        self.port = port
        self.latency = 0.0
        self.reject_credentials = False
        # Outage: every API connection is closed unanswered (records are kept).
        self.outage = False
        # Unknown device: every device answers 404 (its records are kept).
        self.unknown_device = False
        self.requests: list[RequestRecord] = []
        self.duplicates = 0
        self._clock = clock
        self._tokens: dict[str, float] = {}
        self._faults: list[Fault] = []
        self._devices: dict[str, dict[str, Any]] = {}
        self._states: dict[str, list[StoredState]] = {}
        self._by_reference: dict[tuple[str, str], StoredState] = {}
        self._runner: web.AppRunner | None = None
        self.reads = ReadEndpoints(self)
        for device_id in device_ids:
            self.add_device(device_id)

    # --- lifecycle -----------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the base URL the sandbox listens on."""
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        """Start listening; on port 0 pick a free port and keep it for restarts."""
        app = web.Application(middlewares=[self._middleware])
        app.router.add_post("/auth/tokens", self._handle_token)
        app.router.add_get("/devices/{device_id}", self._handle_device)
        app.router.add_put("/devices/{device_id}/state", self._handle_state)
        self.reads.add_routes(app, self._read)
        app.router.add_get("/_sandbox", self._handle_page)
        app.router.add_get("/_sandbox/states", self._handle_listing)
        app.router.add_post("/_sandbox/faults", self._handle_fault_control)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await site.start()
        if self.port == 0:
            server = cast("asyncio.Server", site._server)  # noqa: SLF001
            self.port = int(server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening (connections are refused until ``start`` again)."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def running(self) -> bool:
        """Return whether the sandbox is listening."""
        return self._runner is not None

    # --- control used by tests ----------------------------------------------

    def add_device(
        self, device_id: str, *, location_id: str | None = None, **fields: Any
    ) -> None:
        """Make ``device_id`` known (extra fields go into its JSON).

        Its location is ``location_id``, else its ``DEVICE_LOCATIONS`` entry,
        else ``loc_`` and the rest of its ID.
        """
        location_id = location_id or DEVICE_LOCATIONS.get(
            device_id, "loc_" + device_id.removeprefix("dev_")
        )
        self._devices[device_id] = {
            "id": device_id,
            "object": "device",
            "reference_id": f"battery-{device_id[-4:]}",
            "type": "BATTERY_SYSTEM",
            "manufacturer": "Sandbox Energy",
            "model": "Sandbox Battery 10",
            "live_mode": False,
            "flex_enabled": True,
            "locations": [location_id],
            **fields,
        }
        self._states.setdefault(device_id, [])

    @property
    def devices(self) -> dict[str, dict[str, Any]]:
        """Return the known devices' JSON, by device ID."""
        return dict(self._devices)

    @property
    def pending_faults(self) -> int:
        """Return how many scripted answers are still to be given."""
        return sum(fault.count for fault in self._faults if not fault.drop)

    def all_stored_newest_first(self) -> list[StoredState]:
        """Return every accepted record, newest first per device."""
        return [
            stored for states in self._states.values() for stored in reversed(states)
        ]

    def set_reject_credentials(self, reject: bool) -> None:
        """Refuse (or accept again) the credentials; refusing revokes every token."""
        self.reject_credentials = reject
        if reject:
            self.expire_tokens()

    def remove_device(self, device_id: str) -> None:
        """Forget ``device_id``: its endpoints answer 404 from now on."""
        self._devices.pop(device_id, None)

    def fail_next(
        self,
        status: int,
        count: int = 1,
        *,
        endpoint: str | None = None,
        retry_after: str | None = None,
        code: str | None = None,
        body: str | bytes | None = None,
        headers: dict[str, str] | None = None,
        content_type: str = "application/json",
    ) -> None:
        """Answer the next ``count`` matching requests with ``status``.

        ``body`` (text or raw bytes) replaces the error envelope; ``headers``
        are added to the answer, sent with ``content_type``.
        """
        self._faults.append(
            Fault(
                count,
                status,
                endpoint,
                retry_after,
                code=code,
                body=body,
                headers=headers,
                content_type=content_type,
            )
        )

    def drop_next(self, count: int = 1, *, endpoint: str | None = None) -> None:
        """Close the connection of the next ``count`` matching requests."""
        self._faults.append(Fault(count, endpoint=endpoint, drop=True))

    def clear_faults(self) -> None:
        """Forget every scripted fault."""
        self._faults.clear()

    def expire_tokens(self) -> None:
        """Invalidate every bearer token issued so far."""
        self._tokens.clear()

    def states(self, device_id: str = DEFAULT_DEVICE_ID) -> list[dict[str, Any]]:
        """Return the bodies accepted for ``device_id``, in arrival order."""
        return [stored.body for stored in self._states.get(device_id, [])]

    def stored(self, device_id: str = DEFAULT_DEVICE_ID) -> list[StoredState]:
        """Return the records accepted for ``device_id``, in arrival order."""
        return list(self._states.get(device_id, []))

    def requests_to(self, endpoint: str) -> list[RequestRecord]:
        """Return the requests received for one endpoint."""
        return [r for r in self.requests if r.endpoint == endpoint]

    # --- HTTP ------------------------------------------------------------------

    @staticmethod
    def _endpoint(request: web.Request) -> str:
        # The raw path: a percent-encoded "/" inside an ID is not a separator.
        segments = request.rel_url.raw_path.split("/")[1:]
        if segments == ["auth", "tokens"]:
            return "token"
        if segments[0] == "devices":
            if segments[2:] != ["state"]:
                return "device"
            return "state_read" if request.method == "GET" else "state"
        return READ_ENDPOINTS.get(segments[0], "control")

    def _take_fault(self, endpoint: str) -> Fault | None:
        for fault in self._faults:
            if fault.endpoint in (None, endpoint):
                fault.count -= 1
                if fault.count <= 0:
                    self._faults.remove(fault)
                return fault
        return None

    @web.middleware
    async def _middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Any],
    ) -> web.StreamResponse:
        endpoint = self._endpoint(request)
        if endpoint == "control":
            response: web.StreamResponse = await handler(request)
            return response
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        if self.latency:
            await asyncio.sleep(self.latency)
        record = RequestRecord(
            request.method,
            request.path,
            endpoint,
            0,
            body,
            request.headers.get("User-Agent"),
            request.raw_path,
            request.headers.get("Flatpeak-Version"),
        )
        self.requests.append(record)
        fault = Fault(1, drop=True) if self.outage else self._take_fault(endpoint)
        if fault is not None:
            record.answered_at = self._clock()
            if fault.drop:
                record.status = -1
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            headers.update(fault.headers or {})
            record.status = fault.status
            if fault.body is not None:
                raw = fault.body.encode() if isinstance(fault.body, str) else fault.body
                return web.Response(
                    status=fault.status,
                    body=raw,
                    headers={"Content-Type": fault.content_type, **headers},
                )
            return self._error(
                fault.status,
                fault.code or "injected_fault",
                "Fault injected by the sandbox",
                headers,
            )
        request["json"] = body
        response = await handler(request)
        record.status = response.status
        record.answered_at = self._clock()
        return response

    def _error(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
    ) -> web.Response:
        kind = (
            "rate_limit"
            if status == 429
            else "api_error"
            if status >= 500
            else "invalid_request"
        )
        return web.json_response(
            {
                "object": "error",
                "type": kind,
                "code": code,
                "message": message,
                "live_mode": False,
                "time_created": _rfc3339(datetime.now(UTC)),
            },
            status=status,
            headers=headers,
        )

    def _read(
        self, handler: Callable[[web.Request], dict[str, Any]]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Wrap a read handler: a bearer token first, its ``SchemaError`` an answer."""

        async def handle(request: web.Request) -> web.Response:
            if not self._authorized(request):
                return self._error(
                    401, "unauthorized", "Missing or expired bearer token"
                )
            try:
                return web.json_response(handler(request))
            except SchemaError as err:
                return self._error(err.status, err.code, err.message)

        return handle

    def _basic_credentials(self, request: web.Request) -> tuple[str, str] | None:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, password

    def _authorized(self, request: web.Request) -> bool:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        expiry = self._tokens.get(token) if scheme.lower() == "bearer" else None
        return expiry is not None and self._clock() < expiry

    async def _handle_token(self, request: web.Request) -> web.Response:
        credentials = self._basic_credentials(request)
        if self.reject_credentials or credentials != (
            self.account_id,
            self.secret_key,
        ):
            return self._error(401, "invalid_credentials", "Invalid credentials")
        token = secrets.token_urlsafe(24)
        self._tokens[token] = self._clock() + self.token_lifetime
        return web.json_response(self.token_response(token, self.token_lifetime))

    async def _handle_device(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, "unauthorized", "Missing or expired bearer token")
        device = self._devices.get(request.match_info["device_id"])
        if device is None or self.unknown_device:
            return self._error(404, "not_found", "Device not found")
        return web.json_response(device)

    async def _handle_state(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return self._error(401, "unauthorized", "Missing or expired bearer token")
        device_id = request.match_info["device_id"]
        if device_id not in self._devices or self.unknown_device:
            return self._error(404, "not_found", "Device not found")
        body = request["json"]
        try:
            validate_device_state(body)
        except SchemaError as err:
            return self._error(err.status, err.code, err.message)
        reference = body.get("record_reference_id")
        stored = self._by_reference.get((device_id, reference)) if reference else None
        if stored is not None:
            self.duplicates += 1
        else:
            stored = StoredState(
                id=f"dsr_{secrets.token_hex(12)}",
                device_id=device_id,
                body=body,
                time_created=datetime.now(UTC),
            )
            self._states.setdefault(device_id, []).append(stored)
            if reference:
                self._by_reference[(device_id, reference)] = stored
        return web.json_response(
            {
                "id": stored.id,
                "object": "device_state",
                "device_id": device_id,
                "account_id": self.account_id,
                "time_created": _rfc3339(stored.time_created),
            }
        )

    async def _handle_listing(self, request: web.Request) -> web.Response:
        device_id = request.query.get("device_id")
        devices = [device_id] if device_id else list(self._states)
        return web.json_response(
            {
                "object": "list",
                "data": [
                    stored.as_json()
                    for device in devices
                    for stored in self._states.get(device, [])
                ],
                "duplicates": self.duplicates,
            }
        )

    async def _handle_fault_control(self, request: web.Request) -> web.Response:
        """Apply a control posted as JSON (tests) or as a form (the page)."""
        from_page = request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        )
        try:
            data: Any = (
                dict(await request.post()) if from_page else await request.json()
            )
            self._apply_control(data)
        except (KeyError, TypeError, ValueError) as err:
            return self._error(400, "invalid_control", f"Invalid control: {err!r}")
        if from_page:
            raise web.HTTPSeeOther("/_sandbox")
        return web.json_response({"faults": len(self._faults)})

    def _apply_control(self, data: dict[str, Any]) -> None:
        if not isinstance(data, dict):
            raise TypeError("the control must be a JSON object")
        if self.reads.apply_control(data):
            return
        if "outage" in data:
            self.outage = flag(data["outage"])
        elif "latency" in data:
            self.latency = max(0.0, float(data["latency"]))
        elif "reject_credentials" in data:
            self.set_reject_credentials(flag(data["reject_credentials"]))
        elif "unknown_device" in data:
            self.unknown_device = flag(data["unknown_device"])
        elif flag(data.get("clear")):
            self.clear_faults()
        elif flag(data.get("drop")):
            self.drop_next(int(data.get("count", 1)), endpoint=data.get("endpoint"))
        else:
            self.fail_next(
                int(data["status"]),
                int(data.get("count", 1)),
                endpoint=data.get("endpoint"),
                retry_after=data.get("retry_after"),
                code=data.get("code"),
            )

    async def _handle_page(self, request: web.Request) -> web.Response:
        return web.Response(text=render_page(self), content_type="text/html")
