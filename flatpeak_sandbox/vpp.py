"""The sandbox's VPP participations: ``GET /vpp-participations?device_id=…``.

Each device has at most one current participation, in the state the controls
set (``active``, ``suspended`` with a reason, or ``none``), plus any older
ones a test adds (``add_older``); the list is newest first, paged with
``starting_after`` / ``ending_before`` and ``limit`` (1-100) in the list
envelope. ``current_state`` is sent although the pages' examples lack it (their
field descriptions have it); the timeline's ``IN_PROGRESS`` entry agrees.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .schema import SchemaError

if TYPE_CHECKING:
    from .server import FlatpeakSandbox

PARTICIPATION_STATES = ("active", "suspended", "none")
# The documented suspension reasons, with the text the customer sees.
SUSPENSION_REASONS: dict[str, str] = {
    "AWAITING_TELEMETRY": "Paused: no data from your battery for 24 hours.",
    "AWAITING_DISPATCH": "Paused: waiting for a dispatch to be confirmed.",
    "AWAITING_CONSENT": "Paused: your consent is needed to continue.",
    "OPERATOR_REQUEST": "Paused by the programme's operator.",
    "CUSTOMER_REQUEST": "Paused at your request.",
}
QUERY = frozenset({"device_id", "starting_after", "ending_before", "limit"})
ENROLLED = datetime.fromisoformat("2026-01-05T10:00:00+00:00")
PROVIDER = {
    "id": "prv_sandboxflex",
    "provider_display_name": "Sandbox Flex",
    "logo_url": "https://example.com/sandbox-flex.png",
}
PROGRAMME = {
    "id": "vpr_sandboxsaver",
    "programme_display_name": "Sandbox Saving Sessions",
    "learn_more_url": "https://example.com/saving-sessions",
}


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _entry(state: str, status: str, days: int, text: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"state": state, "status": status, "description": text}
    key = "expected_at" if status == "PENDING" else "occurred_at"
    entry[key] = _time(ENROLLED + timedelta(days=days))
    return entry


class VppParticipations:
    """Every device's participations and the controls that shape them."""

    def __init__(self, sandbox: FlatpeakSandbox) -> None:
        """Start with every device's participation active, telemetry active."""
        self._sandbox = sandbox
        self.state = "active"
        self.reason = "AWAITING_TELEMETRY"
        self.by_device: dict[str, tuple[str, str]] = {}
        self.telemetry_active = True
        self.page_size = 30  # when the request has no ``limit``
        self._older: dict[str, list[dict[str, Any]]] = {}

    def set_state(
        self, state: str, reason: str | None = None, device_id: str | None = None
    ) -> None:
        """Set the participation of ``device_id`` (of every device if ``None``)."""
        if state not in PARTICIPATION_STATES:
            raise ValueError(f"participation must be one of {PARTICIPATION_STATES}")
        reason = reason or "AWAITING_TELEMETRY"
        if reason not in SUSPENSION_REASONS:
            raise ValueError(f"reason must be one of {', '.join(SUSPENSION_REASONS)}")
        if device_id is None:
            self.state, self.reason = state, reason
            self.by_device.clear()
        else:
            self.by_device[device_id] = (state, reason)

    def state_of(self, device_id: str) -> tuple[str, str]:
        """Return the control state and suspension reason of ``device_id``."""
        return self.by_device.get(device_id, (self.state, self.reason))

    def add_older(self, device_id: str, **fields: Any) -> dict[str, Any]:
        """Add an older (by default unenrolled) participation, listed after the rest."""
        older = self._older.setdefault(device_id, [])
        item = {
            **self._base(device_id, f"{len(older) + 1:04d}"),
            "current_state": "UNENROLLED",
            "control_active": False,
            "telemetry_active": False,
            "participation_state": [
                _entry("UNENROLLED", "IN_PROGRESS", -30, "You left the programme.")
            ],
            **fields,
        }
        older.append(item)
        return item

    def _base(self, device_id: str, suffix: str) -> dict[str, Any]:
        device = self._sandbox.devices.get(device_id, {})
        return {
            "object": "vpp-participation",
            "id": f"vpo_{device_id.removeprefix('dev_')}{suffix}",
            "live_mode": False,
            "device_id": device_id,
            "location_id": next(iter(device.get("locations", ())), None),
            "account_id": self._sandbox.account_id,
            "provider": PROVIDER,
            "programme": PROGRAMME,
            "time_created": _time(ENROLLED),
            "time_updated": _time(ENROLLED + timedelta(days=3)),
        }

    def current(self, device_id: str) -> dict[str, Any] | None:
        """Return the device's current participation, or ``None`` (state ``none``)."""
        state, reason = self.state_of(device_id)
        if state == "none":
            return None
        active = state == "active"
        timeline = [
            _entry("ENROLMENT_REQUESTED", "COMPLETE", 0, "Enrolment requested."),
            _entry("REGISTERED", "COMPLETE", 1, "Registered with the programme."),
            _entry(
                "ACTIVE",
                "IN_PROGRESS" if active else "COMPLETE",
                2,
                "Your battery is enrolled and can be dispatched.",
            ),
        ]
        if not active:
            paused = _entry("SUSPENDED", "IN_PROGRESS", 3, SUSPENSION_REASONS[reason])
            timeline += [
                {**paused, "suspension_reasons": [reason]},
                _entry("ACTIVE", "PENDING", 4, "Back to active once resolved."),
            ]
        return {
            **self._base(device_id, ""),
            "current_state": "ACTIVE" if active else "SUSPENDED",
            "control_active": active,
            "telemetry_active": self.telemetry_active,
            "suspension_reasons": [] if active else [reason],
            "participation_state": timeline,
        }

    def participations(self, device_id: str) -> list[dict[str, Any]]:
        """Return the device's participations, newest first."""
        if device_id not in self._sandbox.devices or self._sandbox.unknown_device:
            return []
        current = self.current(device_id)
        return [*([current] if current else []), *self._older.get(device_id, [])]

    def listing(self, request: web.Request) -> dict[str, Any]:
        """``GET /vpp-participations``: one page of a device's participations."""
        query = request.query
        if unknown := sorted(set(query) - QUERY):
            raise SchemaError(
                400, "unknown_parameter", f"Unknown: {', '.join(unknown)}"
            )
        if not query.get("device_id"):
            raise SchemaError(400, "missing_parameter", "'device_id' is required")
        if "starting_after" in query and "ending_before" in query:
            raise SchemaError(
                400, "invalid_request", "Use starting_after or ending_before, not both"
            )
        try:
            limit = int(query.get("limit", self.page_size))
        except ValueError:
            limit = 0
        if not 1 <= limit <= 100:
            raise SchemaError(400, "invalid_limit", "'limit' must be 1 to 100")
        items = self.participations(query["device_id"])
        ids = [item["id"] for item in items]
        cursor = query.get("starting_after") or query.get("ending_before")
        if cursor is not None and cursor not in ids:
            raise SchemaError(400, "invalid_cursor", "Unknown cursor")
        if "ending_before" in query:
            stop = ids.index(query["ending_before"])
            first = max(0, stop - limit)
            page, has_more = items[first:stop], first > 0
        else:
            first = ids.index(cursor) + 1 if cursor is not None else 0
            page = items[first : first + limit]
            has_more = first + limit < len(items)
        return {
            "object": "list",
            "url": "/vpp-participations",
            "has_more": has_more,
            "data": page,
        }
