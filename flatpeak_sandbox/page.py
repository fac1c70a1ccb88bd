"""The sandbox's HTML page: what it received, and buttons for every demo fault.

It also shows what the read endpoints answer, with buttons for their controls:
each direction's tariff, the VPP participation, telemetry active.

Every control is a plain HTML form posting to ``/_sandbox/faults`` (the same
endpoint tests post JSON to); the sandbox answers a form with a redirect back
to this page.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import html
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .server import FlatpeakSandbox

CONTROL_PATH = "/_sandbox/faults"

# The "next answer" buttons: label, then the fault's fields.
NEXT_ANSWERS: tuple[tuple[str, dict[str, str]], ...] = (
    (
        "429 Too Many Requests (Retry-After 30 s)",
        {"status": "429", "retry_after": "30"},
    ),
    ("503 Maintenance (Retry-After 60 s)", {"status": "503", "retry_after": "60"}),
    ("422 Rejected record", {"status": "422", "code": "out_of_range"}),
)

# The read controls' buttons: label, then the control's fields.
TARIFF_BUTTONS: tuple[tuple[str, str], ...] = (
    ("Connected", "connected"),
    ("Not connected", "not_connected"),
    ("Pending", "pending"),
    ("No price data", "no_price_data"),
)
PARTICIPATION_BUTTONS: tuple[tuple[str, dict[str, str]], ...] = (
    ("Active", {"participation": "active"}),
    (
        "Suspended: awaiting telemetry",
        {"participation": "suspended", "reason": "AWAITING_TELEMETRY"},
    ),
    (
        "Suspended: customer request",
        {"participation": "suspended", "reason": "CUSTOMER_REQUEST"},
    ),
    ("None", {"participation": "none"}),
)

STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:70em}"
    "table{border-collapse:collapse}td,th{border:1px solid #999;padding:.3em .6em}"
    "form{display:inline}.on{color:#b00;font-weight:bold}"
)


def _form(label: str, fields: Mapping[str, str]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in fields.items()
    )
    return (
        f'<form method="post" action="{CONTROL_PATH}">{inputs}'
        f"<button type=submit>{html.escape(label)}</button></form>"
    )


def _toggle(name: str, label: str, active: bool, meaning: str) -> str:
    state = '<span class="on">on</span>' if active else "off"
    return (
        f"<tr><th>{html.escape(label)}</th><td>{state}</td>"
        f"<td>{_form('Turn on', {name: 'on'})} {_form('Turn off', {name: 'off'})}</td>"
        f"<td>{html.escape(meaning)}</td></tr>"
    )


def _rows(cells: Iterable[Iterable[str]]) -> str:
    return "".join(
        "<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in cells
    )


def _reads_section(sandbox: FlatpeakSandbox) -> str:
    """Return the read endpoints' part: locations, tariffs, the participation."""
    reads = sandbox.reads
    locations = _rows(
        (
            f"<code>{html.escape(location_id)}</code>",
            " ".join(f"<code>{html.escape(d)}</code>" for d in devices),
        )
        for location_id, devices in reads.locations().items()
    )
    tariffs = _rows(
        (
            html.escape(direction),
            html.escape(reads.tariffs[direction]),
            " ".join(
                _form(label, {"tariff": value, "direction": direction})
                for label, value in TARIFF_BUTTONS
            ),
        )
        for direction in ("IMPORT", "EXPORT")
    )
    vpp = reads.vpp
    state = vpp.state + (f" ({vpp.reason})" if vpp.state == "suspended" else "")
    state += "".join(f"; {d}: {s}" for d, (s, _) in vpp.by_device.items())
    buttons = " ".join(_form(label, fields) for label, fields in PARTICIPATION_BUTTONS)
    return (
        "<h2>Locations</h2><table><tr><th>Location</th><th>Devices</th></tr>"
        f"{locations}</table>"
        "<h2>Tariffs</h2><table><tr><th>Direction</th><th>Now</th><th></th></tr>"
        f"{tariffs}</table>"
        f"<h2>VPP participation</h2><p>Every device: {html.escape(state)}. {buttons}</p>"
        "<table>"
        + _toggle(
            "telemetry_active",
            "Telemetry active",
            vpp.telemetry_active,
            "what the participations report as telemetry_active",
        )
        + "</table>"
    )


def render_page(sandbox: FlatpeakSandbox) -> str:
    """Return the page: credentials, devices, fault controls, received states."""
    devices = _rows(
        (
            f"<code>{html.escape(device_id)}</code>",
            html.escape(f"{fields.get('manufacturer', '')} {fields.get('model', '')}"),
        )
        for device_id, fields in sandbox.devices.items()
    )
    toggles = "".join(
        (
            _toggle(
                "outage",
                "Outage",
                sandbox.outage,
                "every API connection is closed unanswered",
            ),
            _toggle(
                "reject_credentials",
                "Refuse credentials",
                sandbox.reject_credentials,
                "tokens are revoked and the login answers 401",
            ),
            _toggle(
                "unknown_device",
                "Unknown device",
                sandbox.unknown_device,
                "every device answers 404 (device not found)",
            ),
        )
    )
    next_answer = " ".join(
        _form(label, {"endpoint": "state", **fields}) for label, fields in NEXT_ANSWERS
    )
    states = _rows(
        (
            html.escape(stored.id),
            f"<code>{html.escape(stored.device_id)}</code>",
            f"<code>{html.escape(json.dumps(stored.body))}</code>",
        )
        for stored in sandbox.all_stored_newest_first()
    )
    return (
        f"<!doctype html><title>Flatpeak sandbox</title><style>{STYLE}</style>"
        "<h1>Flatpeak sandbox</h1>"
        f"<p>Account <code>{html.escape(sandbox.account_id)}</code>, secret key "
        f"<code>{html.escape(sandbox.secret_key)}</code>, API URL "
        f"<code>{html.escape(sandbox.url)}</code></p>"
        "<h2>Devices</h2><table><tr><th>Device ID</th><th>Model</th></tr>"
        f"{devices}</table>"
        "<h2>Faults</h2><table>"
        "<tr><th>Fault</th><th>Now</th><th></th><th>Effect</th></tr>"
        f"{toggles}</table>"
        f"<p>Next state submission answers: {next_answer} "
        f"{_form('Clear pending answers', {'clear': 'on'})} "
        f"(pending: {sandbox.pending_faults})</p>"
        f"{_reads_section(sandbox)}"
        '<h2>Received states</h2><p><a href="/_sandbox">Refresh</a></p>'
        "<table><tr><th>Record</th><th>Device</th><th>Body</th></tr>"
        f"{states}</table>"
    )


def flag(value: Any) -> bool:
    """Read an on/off control value from JSON (a bool) or a form (a string)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "on", "yes")
    return bool(value)
