"""The sandbox rejects what the real Flatpeak API would, and records what it accepts."""

import base64
from collections.abc import AsyncGenerator
from html.parser import HTMLParser
from typing import Any

import aiohttp
import pytest

from flatpeak_sandbox import (
    DEFAULT_DEVICE_ID,
    DEMO_DEVICES,
    FlatpeakSandbox,
    SchemaError,
    validate_device_state,
)
from flatpeak_sandbox.__main__ import build_sandbox, parser

from .conftest import SandboxFactory

VALID: dict[str, Any] = {
    "time": "2026-11-28T09:30:00Z",
    "state_of_charge_percent": 42.5,
    "target_state_of_charge_percent": 80,
}


@pytest.fixture
async def http(sandbox: FlatpeakSandbox) -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=sandbox.url) as session:
        yield session


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def bearer(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> dict[str, str]:
    auth = basic(sandbox.account_id, sandbox.secret_key)
    async with http.post("/auth/tokens", headers={"Authorization": auth}) as response:
        assert response.status == 200
        body = await response.json()
    assert body["expires_in"] == sandbox.token_lifetime
    return {"Authorization": f"Bearer {body['bearer_token']}"}


async def put_state(
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    body: Any,
    device: str = DEFAULT_DEVICE_ID,
) -> tuple[int, dict[str, Any]]:
    async with http.put(
        f"/devices/{device}/state", json=body, headers=headers
    ) as response:
        return response.status, await response.json()


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"colour": "blue"}, 400, "unknown_field"),
        ({"state_of_charge_percent": None}, 400, "invalid_type"),
        ({"state_of_charge_percent": "42"}, 400, "invalid_type"),
        ({"state_of_charge_percent": True}, 400, "invalid_type"),
        ({"battery_power_kw": "3"}, 400, "invalid_type"),
        ({"record_reference_id": 7}, 400, "invalid_type"),
        ({"state_of_charge_percent": 101}, 422, "out_of_range"),
        ({"target_state_of_charge_percent": -1}, 422, "out_of_range"),
        ({"backup_reserve_percent": 100.01}, 422, "out_of_range"),
        ({"energy_flow_direction": "SIDEWAYS"}, 400, "invalid_enum"),
        ({"energy_flow_direction": "export"}, 400, "invalid_enum"),
        ({"time": "2026-11-28 09:30:00Z"}, 400, "invalid_time"),
        ({"time": "2026-11-28T09:30:00"}, 400, "invalid_time"),
        ({"time": "yesterday"}, 400, "invalid_time"),
        ({"time": "2026-13-28T09:30:00Z"}, 400, "invalid_time"),
        ({"time": 1764322200}, 400, "invalid_type"),
    ],
)
async def test_invalid_bodies_rejected(
    http: aiohttp.ClientSession,
    sandbox: FlatpeakSandbox,
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    headers = await bearer(http, sandbox)
    got_status, body = await put_state(http, headers, {**VALID, **change})
    assert got_status == status
    assert body["object"] == "error"
    assert body["type"] == "invalid_request"
    assert body["code"] == code
    assert body["message"]
    assert sandbox.states() == []


@pytest.mark.parametrize(
    "missing", ["time", "state_of_charge_percent", "target_state_of_charge_percent"]
)
async def test_missing_required_field(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox, missing: str
) -> None:
    headers = await bearer(http, sandbox)
    body = {k: v for k, v in VALID.items() if k != missing}
    status, answer = await put_state(http, headers, body)
    assert (status, answer["code"]) == (400, "missing_field")


@pytest.mark.parametrize("body", [[VALID], "text", None])
def test_body_must_be_an_object(body: Any) -> None:
    with pytest.raises(SchemaError) as err:
        validate_device_state(body)
    assert err.value.status == 400


def test_valid_bodies_accepted() -> None:
    validate_device_state(VALID)
    validate_device_state(
        {
            **VALID,
            "time": "2026-11-28T10:30:00.123+01:00",
            "energy_flow_direction": "IMPORT",
            "battery_power_kw": 0,
            "energy_remaining_kwh": 8.3,
            "backup_reserve_percent": 0,
            "record_reference_id": "abc",
        }
    )


async def test_accepts_records_and_deduplicates(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    headers = await bearer(http, sandbox)
    status, first = await put_state(
        http, headers, {**VALID, "record_reference_id": "r1"}
    )
    assert status == 200
    assert first["object"] == "device_state"
    assert first["device_id"] == DEFAULT_DEVICE_ID
    assert first["account_id"] == sandbox.account_id
    _, again = await put_state(http, headers, {**VALID, "record_reference_id": "r1"})
    _, other = await put_state(http, headers, {**VALID, "record_reference_id": "r2"})
    _, unreferenced = await put_state(http, headers, VALID)
    assert again["id"] == first["id"]
    assert len({first["id"], other["id"], unreferenced["id"]}) == 3
    assert sandbox.duplicates == 1
    assert [s.get("record_reference_id") for s in sandbox.states()] == [
        "r1",
        "r2",
        None,
    ]
    async with http.get(
        "/_sandbox/states", params={"device_id": DEFAULT_DEVICE_ID}
    ) as response:
        listing = await response.json()
    assert [item["id"] for item in listing["data"]] == [
        first["id"],
        other["id"],
        unreferenced["id"],
    ]
    assert listing["duplicates"] == 1
    async with http.get("/_sandbox") as response:
        page = await response.text()
    assert first["id"] in page
    assert "Flatpeak sandbox" in page


async def test_authentication(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    status, body = await put_state(http, {}, VALID)
    assert (status, body["code"]) == (401, "unauthorized")
    status, body = await put_state(http, {"Authorization": "Bearer nope"}, VALID)
    assert status == 401
    wrong = basic(sandbox.account_id, "sk_wrong")
    async with http.post("/auth/tokens", headers={"Authorization": wrong}) as response:
        assert response.status == 401
    async with http.post(
        "/auth/tokens", headers={"Authorization": "Basic %%%"}
    ) as response:
        assert response.status == 401
    headers = await bearer(http, sandbox)
    sandbox.expire_tokens()
    status, _ = await put_state(http, headers, VALID)
    assert status == 401
    sandbox.reject_credentials = True
    good = basic(sandbox.account_id, sandbox.secret_key)
    async with http.post("/auth/tokens", headers={"Authorization": good}) as response:
        assert response.status == 401


async def test_unknown_device(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    headers = await bearer(http, sandbox)
    status, body = await put_state(http, headers, VALID, device="dev_unknown")
    assert (status, body["code"]) == (404, "not_found")
    async with http.get("/devices/dev_unknown", headers=headers) as response:
        assert response.status == 404
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    status, _ = await put_state(http, headers, VALID)
    assert status == 404


async def test_fault_control_over_http(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    headers = await bearer(http, sandbox)
    async with http.post(
        "/_sandbox/faults",
        json={"status": 503, "count": 1, "endpoint": "state", "retry_after": "30"},
    ) as response:
        assert (await response.json()) == {"faults": 1}
    async with http.put(
        f"/devices/{DEFAULT_DEVICE_ID}/state", json=VALID, headers=headers
    ) as response:
        assert response.status == 503
        assert response.headers["Retry-After"] == "30"
        assert (await response.json())["type"] == "api_error"
    async with http.post(
        "/_sandbox/faults", json={"drop": True, "count": 3}
    ) as response:
        assert (await response.json()) == {"faults": 1}
    async with http.post("/_sandbox/faults", json={"clear": True}) as response:
        assert (await response.json()) == {"faults": 0}
    status, _ = await put_state(http, headers, VALID)
    assert status == 200


async def test_restart_keeps_port_and_records(sandbox: FlatpeakSandbox) -> None:
    port = sandbox.port
    sandbox.fail_next(429, endpoint="state")
    await sandbox.stop()
    assert not sandbox.running
    await sandbox.start()
    assert sandbox.running
    assert sandbox.port == port


async def test_outage_over_http(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    headers = await bearer(http, sandbox)
    async with http.post("/_sandbox/faults", json={"outage": True}) as response:
        assert response.status == 200
    with pytest.raises(aiohttp.ClientError):
        await put_state(http, headers, VALID)
    async with http.post("/_sandbox/faults", json={"outage": False}) as response:
        assert response.status == 200
    status, _ = await put_state(http, headers, VALID)
    assert status == 200
    assert len(sandbox.states()) == 1


async def test_latency_over_http(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    async with http.post("/_sandbox/faults", json={"latency": 0.25}) as response:
        assert response.status == 200
    assert sandbox.latency == 0.25
    async with http.post("/_sandbox/faults", json={"latency": "x"}) as response:
        assert response.status == 400
    async with http.post("/_sandbox/faults", json={"latency": 0}) as response:
        assert response.status == 200
    assert sandbox.latency == 0


async def test_states_out_of_order_are_accepted(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    """The API does not require times in order (a backlog follows the current state)."""
    headers = await bearer(http, sandbox)
    newer = {**VALID, "time": "2026-11-28T10:05:00Z", "record_reference_id": "b"}
    older = {**VALID, "time": "2026-11-28T09:05:00Z", "record_reference_id": "a"}
    for body in (newer, older):
        status, _ = await put_state(http, headers, body)
        assert status == 200
    assert sandbox.states() == [newer, older]


# --- the page's fault controls (the demo) ------------------------------------------


class FormParser(HTMLParser):
    """Collect every form on a page: its method, action and fields."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append((values["method"], values["action"], {}))
        elif tag == "input" and self.forms:
            self.forms[-1][2][values["name"]] = values["value"]


async def page_forms(http: aiohttp.ClientSession) -> list[dict[str, str]]:
    """Return the fields of every form on the page (each posts to the controls)."""
    async with http.get("/_sandbox") as response:
        assert response.status == 200
        parser = FormParser()
        parser.feed(await response.text())
    assert {(method, action) for method, action, _ in parser.forms} == {
        ("post", "/_sandbox/faults")
    }
    return [fields for _, _, fields in parser.forms]


async def click(http: aiohttp.ClientSession, fields: dict[str, str]) -> None:
    """Post a form from the page as a browser does; it leads back to the page."""
    forms = await page_forms(http)
    assert fields in forms
    async with http.post(
        "/_sandbox/faults", data=fields, allow_redirects=False
    ) as response:
        assert response.status == 303
        assert response.headers["Location"] == "/_sandbox"


async def test_page_has_every_demo_control(http: aiohttp.ClientSession) -> None:
    forms = await page_forms(http)
    for name in ("outage", "reject_credentials", "unknown_device"):
        assert {name: "on"} in forms
        assert {name: "off"} in forms
    statuses = {f["status"]: f for f in forms if "status" in f}
    assert statuses["429"] == {
        "endpoint": "state",
        "status": "429",
        "retry_after": "30",
    }
    assert statuses["503"] == {
        "endpoint": "state",
        "status": "503",
        "retry_after": "60",
    }
    assert statuses["422"]["endpoint"] == "state"
    assert {"clear": "on"} in forms


async def test_page_outage_control(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    headers = await bearer(http, sandbox)
    await click(http, {"outage": "on"})
    async with http.get("/_sandbox") as response:
        assert '<span class="on">on</span>' in await response.text()
    with pytest.raises(aiohttp.ClientError):
        await put_state(http, headers, VALID)
    await click(http, {"outage": "off"})
    assert (await put_state(http, headers, VALID))[0] == 200


async def test_page_refuse_credentials_control(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    headers = await bearer(http, sandbox)
    await click(http, {"reject_credentials": "on"})
    # Tokens already issued are revoked too, so the integration sees it at once.
    assert (await put_state(http, headers, VALID))[0] == 401
    good = basic(sandbox.account_id, sandbox.secret_key)
    async with http.post("/auth/tokens", headers={"Authorization": good}) as response:
        assert response.status == 401
    await click(http, {"reject_credentials": "off"})
    headers = await bearer(http, sandbox)
    assert (await put_state(http, headers, VALID))[0] == 200


async def test_page_unknown_device_control(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    headers = await bearer(http, sandbox)
    await click(http, {"unknown_device": "on"})
    status, body = await put_state(http, headers, VALID)
    assert (status, body["code"]) == (404, "not_found")
    async with http.get(f"/devices/{DEFAULT_DEVICE_ID}", headers=headers) as response:
        assert response.status == 404
    await click(http, {"unknown_device": "off"})
    async with http.get(f"/devices/{DEFAULT_DEVICE_ID}", headers=headers) as response:
        assert response.status == 200
    assert (await put_state(http, headers, VALID))[0] == 200


@pytest.mark.parametrize(
    ("status", "retry_after", "code"),
    [
        ("429", "30", "injected_fault"),
        ("503", "60", "injected_fault"),
        ("422", None, "out_of_range"),
    ],
)
async def test_page_next_answer_controls(
    http: aiohttp.ClientSession,
    sandbox: FlatpeakSandbox,
    status: str,
    retry_after: str | None,
    code: str,
) -> None:
    headers = await bearer(http, sandbox)
    form = next(f for f in await page_forms(http) if f.get("status") == status)
    await click(http, form)
    async with http.get("/_sandbox") as response:
        assert "(pending: 1)" in await response.text()
    async with http.put(
        f"/devices/{DEFAULT_DEVICE_ID}/state", json=VALID, headers=headers
    ) as response:
        assert response.status == int(status)
        assert response.headers.get("Retry-After") == retry_after
        assert (await response.json())["code"] == code
    # Only the next answer: the one after is the real one.
    assert (await put_state(http, headers, VALID))[0] == 200
    assert len(sandbox.states()) == 1


async def test_page_clear_control(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    headers = await bearer(http, sandbox)
    sandbox.fail_next(503, 5, endpoint="state")
    await click(http, {"clear": "on"})
    assert sandbox.pending_faults == 0
    assert (await put_state(http, headers, VALID))[0] == 200


@pytest.mark.parametrize(
    "control",
    [{"status": "teapot"}, {"count": 2}, ["outage"], {"drop": True, "count": "x"}],
)
async def test_invalid_control_is_a_400(
    http: aiohttp.ClientSession, sandbox: FlatpeakSandbox, control: Any
) -> None:
    async with http.post("/_sandbox/faults", json=control) as response:
        assert response.status == 400
        assert (await response.json())["code"] == "invalid_control"
    assert sandbox.pending_faults == 0


def test_command_line_serves_the_demo_batteries() -> None:
    sandbox = build_sandbox(parser().parse_args([]))
    devices = sandbox.devices
    assert list(devices) == [DEFAULT_DEVICE_ID, *DEMO_DEVICES]
    models = {f"{d['manufacturer']} {d['model']}" for d in devices.values()}
    assert len(models) == len(devices)  # each battery tells itself apart
    one = build_sandbox(parser().parse_args(["--device-id", "dev_demo2"])).devices
    assert one == {"dev_demo2": devices["dev_demo2"]}
    assert one["dev_demo2"]["model"] == DEMO_DEVICES["dev_demo2"]["model"]


async def test_page_lists_devices_with_models(make_sandbox: SandboxFactory) -> None:
    sandbox = await make_sandbox(device_ids=())
    for device_id, fields in DEMO_DEVICES.items():
        sandbox.add_device(device_id, **fields)
    async with (
        aiohttp.ClientSession(base_url=sandbox.url) as http,
        http.get("/_sandbox") as response,
    ):
        page = await response.text()
    for device_id, fields in DEMO_DEVICES.items():
        assert f"<code>{device_id}</code>" in page
        assert f"{fields['manufacturer']} {fields['model']}" in page
