"""The sandbox's read endpoints, as the busbar pages describe them.

``GET /devices/{id}/state``, ``GET /locations/{id}``, ``GET
/vpp-participations``, ``POST /prices`` and ``POST /prices/{id}`` (both
documented variants), ``POST /schedules/duration``. Each handler returns the
answer's JSON or raises ``SchemaError``; the server checks the token first and
records every request. Controls (``apply_control``): whether a tariff is
connected, per direction; the VPP participation's state; telemetry active;
price overrides (a period priced apart from the curve, for prices and schedules).

Where the pages are silent the sandbox chooses, and says so: a device with no
state yet answers 404 ``device_state_not_found``; a device not at the location
asked about 422 ``device_location_mismatch``; a pending tariff is listed with
status ``PENDING``; a window too long 422 ``time_range_too_long``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import secrets
from typing import TYPE_CHECKING, Any

from aiohttp import web

from . import prices
from .page import flag
from .schema import (
    PRICES_PATH_SCHEMA,
    PRICES_SCHEMA,
    SCHEDULE_DURATION_SCHEMA,
    SchemaError,
    parse_window,
    validate_body,
)
from .vpp import VppParticipations

if TYPE_CHECKING:
    from .server import FlatpeakSandbox

TARIFF_STATES = ("connected", "not_connected", "pending", "no_price_data")
# What a price request answers for a tariff that is not connected.
TARIFF_ERRORS: dict[str, tuple[str, str]] = {
    "not_connected": ("no_tariff_connected", "No tariff is connected for this"),
    "pending": ("pending_connect", "The tariff connection is still pending for"),
    "no_price_data": ("no_price_data", "Price data is missing for"),
}
# How the location lists a tariff (a tariff not connected is not listed).
TARIFF_STATUS = {
    "connected": "CONNECTED",
    "no_price_data": "CONNECTED",
    "pending": "PENDING",
}
MAX_PRICE_WINDOW = timedelta(days=90)
MAX_SCHEDULE_WINDOW = timedelta(days=3)
CREATED = "2026-01-05T10:00:00Z"
ID_PREFIXES = {"price": "prs", "schedule_duration": "std"}
Fmt = Callable[[datetime], str]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def signed_power(body: dict[str, Any]) -> float | None:
    """Return a stored state's ``battery_power_kw`` as the read page signs it.

    The PUT takes a magnitude and ``energy_flow_direction`` (IMPORT = from
    the grid into the battery, EXPORT = out of it to the grid); the read
    page's ``battery_power_kw`` is positive when charging. So IMPORT gives
    ``+|p|``, EXPORT ``-|p|``, and without a direction the value is returned
    as it was sent.
    """
    power = body.get("battery_power_kw")
    if power is None:
        return None
    direction = body.get("energy_flow_direction")
    if direction == "IMPORT":
        return float(abs(power))
    if direction == "EXPORT":
        return -float(abs(power))
    return float(power)


class ReadEndpoints:
    """The read endpoints of one sandbox and their controls."""

    def __init__(self, sandbox: FlatpeakSandbox) -> None:
        """Start with every tariff but LOCAL connected and an active participation."""
        self._sandbox = sandbox
        self.tariffs = {
            "IMPORT": "connected",
            "EXPORT": "connected",
            "LOCAL": "not_connected",
        }
        self.vpp = VppParticipations(sandbox)
        # Which price endpoints exist: "body" (POST /prices), "path" (/prices/{id}).
        self.price_routes = {"body", "path"}
        self.overrides: list[prices.Override] = []
        self.utcnow: Callable[[], datetime] = _utcnow
        now = _utcnow()
        self.prices_updated = now.replace(minute=0, second=0, microsecond=0)

    def add_routes(
        self, app: web.Application, wrap: Callable[[Callable[..., Any]], Any]
    ) -> None:
        """Register every read endpoint, each through ``wrap`` (auth, errors)."""
        app.router.add_get("/devices/{device_id}/state", wrap(self.device_state))
        app.router.add_get("/locations/{location_id}", wrap(self.location))
        app.router.add_get("/vpp-participations", wrap(self.vpp.listing))
        app.router.add_post("/prices", wrap(self.prices))
        app.router.add_post("/prices/{location_id}", wrap(self.prices))
        app.router.add_post("/schedules/duration", wrap(self.schedule))

    # --- controls ----------------------------------------------------------------

    def apply_control(self, data: dict[str, Any]) -> bool:
        """Apply a read control if ``data`` is one; return whether it was."""
        if "tariff" in data:
            self.set_tariff(data["tariff"], data.get("direction"))
        elif "participation" in data:
            self.vpp.set_state(
                data["participation"], data.get("reason"), data.get("device_id")
            )
        elif "telemetry_active" in data:
            self.vpp.telemetry_active = flag(data["telemetry_active"])
        elif "price_override" in data:
            if data["price_override"] is None:
                self.overrides.clear()
            else:
                self.overrides.append(prices.Override.from_json(data["price_override"]))
        else:
            return False
        return True

    def set_tariff(self, state: str, direction: str | None = None) -> None:
        """Set the tariff of ``direction`` (IMPORT and EXPORT if ``None``)."""
        if state not in TARIFF_STATES:
            raise ValueError(f"tariff must be one of {', '.join(TARIFF_STATES)}")
        for each in ("IMPORT", "EXPORT") if direction is None else (direction,):
            if each not in self.tariffs:
                raise ValueError(f"unknown direction {each!r}")
            self.tariffs[each] = state

    # --- what the devices say ----------------------------------------------------

    def device(self, device_id: str) -> dict[str, Any]:
        """Return a known device's JSON; raise a 404 ``SchemaError`` otherwise."""
        device = self._sandbox.devices.get(device_id)
        if device is None or self._sandbox.unknown_device:
            raise SchemaError(404, "not_found", "Device not found")
        return device

    def locations(self) -> dict[str, list[str]]:
        """Return each location's devices (from the devices' ``locations``)."""
        result: dict[str, list[str]] = {}
        for device_id, device in self._sandbox.devices.items():
            for location_id in device.get("locations", ()):
                result.setdefault(location_id, []).append(device_id)
        return result

    def _location_devices(self, location_id: str) -> list[str]:
        devices = self.locations().get(location_id)
        if devices is None:
            raise SchemaError(404, "not_found", "Location not found")
        return devices

    # --- handlers ----------------------------------------------------------------

    def device_state(self, request: web.Request) -> dict[str, Any]:
        """``GET /devices/{device_id}/state``: the last state accepted."""
        device_id = request.match_info["device_id"]
        device = self.device(device_id)
        stored = self._sandbox.stored(device_id)
        if not stored:
            raise SchemaError(404, "device_state_not_found", "No state submitted yet")
        last = stored[-1]
        answer: dict[str, Any] = {
            "id": last.id,
            "object": "device_state",
            "account_id": self._sandbox.account_id,
            "location_id": next(iter(device.get("locations", ())), None),
            "time_created": last.time_created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        for name in (
            "time",
            "record_reference_id",
            "state_of_charge_percent",
            "target_state_of_charge_percent",
            "energy_remaining_kwh",
            "backup_reserve_percent",
        ):
            if name in last.body:
                answer[name] = last.body[name]
        if (power := signed_power(last.body)) is not None:
            answer["battery_power_kw"] = power
        return answer

    def location(self, request: web.Request) -> dict[str, Any]:
        """``GET /locations/{location_id}`` (the retrieve page's shape)."""
        location_id = request.match_info["location_id"]
        devices = self._location_devices(location_id)
        suffix = location_id.removeprefix("loc_")
        return {
            "id": location_id,
            "object": "location",
            "live_mode": False,
            "postal_address_verified": True,
            "time_created": CREATED,
            "account_id": self._sandbox.account_id,
            "reference_id": f"home-{suffix}",
            "customer_id": f"cus_{suffix}",
            "timezone": prices.TIMEZONE,
            "currency_code": prices.CURRENCY,
            "postal_address": {
                "address_line1": "1 Sandbox Lane",
                "city": "London",
                "post_code": "SW1A 1AA",
                "country_code": "GB",
            },
            "geo_location": {"lat": 51.501, "lng": -0.142},
            "tariff_elements": [
                {
                    "status": TARIFF_STATUS[state],
                    "provider_id": "prv_sandboxenergy",
                    "tariff_id": f"trf_sandbox_{direction.lower()}",
                    "devices": devices,
                    "type": "COMMODITY",
                    "direction": direction,
                    "temporary": False,
                }
                for direction, state in self.tariffs.items()
                if state in TARIFF_STATUS
            ],
            "devices": devices,
        }

    def _priced(self, body: dict[str, Any], location_id: str) -> str:
        """Check the location, device and tariff; return the direction."""
        devices = self._location_devices(location_id)
        if (device_id := body.get("device_id")) is not None:
            self.device(device_id)
            if device_id not in devices:
                raise SchemaError(
                    422, "device_location_mismatch", "The device is not at the location"
                )
        direction: str = body.get("tariff_direction", "IMPORT")
        if (error := TARIFF_ERRORS.get(self.tariffs[direction])) is not None:
            raise SchemaError(422, error[0], f"{error[1]} {direction} tariff")
        return direction

    def _pieces(
        self, start: datetime, end: datetime, direction: str, now: datetime
    ) -> list[prices.Piece]:
        """Return the curve's half hours over ``[start, end)``, overrides applied."""
        pieces = prices.half_hours(start, end, direction, now)
        return prices.overlaid(pieces, self.overrides, direction)

    def _answer(
        self, kind: str, location_id: str, direction: str, now: datetime, fmt: Fmt
    ) -> dict[str, Any]:
        """Return what a price and a schedule answer share."""
        return {
            "id": f"{ID_PREFIXES[kind]}_{secrets.token_hex(12)}",
            "object": kind,
            "account_id": self._sandbox.account_id,
            "location_id": location_id,
            "live_mode": False,
            "location_timezone": prices.TIMEZONE,
            "currency_code": prices.CURRENCY,
            "tariff_direction": direction,
            "time_created": fmt(now),
        }

    def prices(self, request: web.Request) -> dict[str, Any]:
        """``POST /prices`` (location in the body) or ``POST /prices/{location_id}``."""
        body = request["json"]
        in_path = "location_id" in request.match_info
        if ("path" if in_path else "body") not in self.price_routes:
            raise SchemaError(404, "not_found", "No such endpoint")
        validate_body(PRICES_PATH_SCHEMA if in_path else PRICES_SCHEMA, body)
        location_id = request.match_info.get("location_id") or body["location_id"]
        now = self.utcnow()
        start, end = parse_window(body, MAX_PRICE_WINDOW, default_start=now)
        direction = self._priced(body, location_id)
        fmt = prices.formatter(body["end_time"])
        answer = self._answer("price", location_id, direction, now, fmt)
        answer["last_updated"] = fmt(self.prices_updated)
        pieces = prices.merged(self._pieces(start, end, direction, now))
        answer["data"] = prices.as_json(pieces, fmt, ("valid_from", "valid_to"))
        if in_path:  # the older variant echoes the request and has no device
            answer["request"] = {
                "start_time": fmt(start),
                "end_time": fmt(end),
                "tariff_direction": answer.pop("tariff_direction"),
            }
        elif "device_id" in body:
            answer["device_id"] = body["device_id"]
        return answer

    def schedule(self, request: web.Request) -> dict[str, Any]:
        """``POST /schedules/duration``: the cheapest or dearest slots of a window."""
        body = request["json"]
        validate_body(SCHEDULE_DURATION_SCHEMA, body)
        now = self.utcnow()
        start, end = parse_window(body, MAX_SCHEDULE_WINDOW, default_start=now)
        if timedelta(minutes=body["duration"]) > end - start:
            raise SchemaError(
                422, "duration_exceeds_window", "'duration' is longer than the window"
            )
        direction = self._priced(body, body["location_id"])
        fmt = prices.formatter(body["end_time"])
        answer = self._answer(
            "schedule_duration", body["location_id"], direction, now, fmt
        )
        pieces = self._pieces(start, end, direction, now)
        chosen = prices.pick(pieces, int(body["duration"]), body["segment"])
        answer["data"] = [
            {**slot, "vpp_event": False}
            for slot in prices.as_json(chosen, fmt, ("start_time", "end_time"))
        ]
        if "device_id" in body:
            answer["device_id"] = body["device_id"]
        return answer
