"""The sandbox rejects what the real Flatpeak API would, and records what it accepts."""

import base64
from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import aiohttp
import pytest

from flatpeak_sandbox import (
    DEFAULT_DEVICE_ID,
    DEMO_DEVICES,
    DEVICE_LOCATIONS,
    FlatpeakSandbox,
    SchemaError,
    prices,
    validate_device_state,
)
from flatpeak_sandbox.__main__ import build_sandbox, parser
from flatpeak_sandbox.reads import signed_power

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


async def test_requests_record_when_they_were_answered(
    make_sandbox: SandboxFactory,
) -> None:
    """Each request records when it was answered, on the sandbox's clock (the
    benchmark times deliveries and the waits between retries with it)."""
    now = [100.0]
    server = await make_sandbox(clock=lambda: now[0])
    async with aiohttp.ClientSession(base_url=server.url) as http:
        headers = await bearer(http, server)
        now[0] = 105.0
        server.fail_next(503, endpoint="state", retry_after="0")
        assert (await put_state(http, headers, VALID))[0] == 503
        now[0] = 107.5
        server.outage = True
        with pytest.raises(aiohttp.ClientError):
            await put_state(http, headers, VALID)
        server.outage = False
        now[0] = 108.0
        assert (await put_state(http, headers, VALID))[0] == 200
    # The client tries a dropped connection again: one dropped answer or more.
    answers = sorted({(r.endpoint, r.status, r.answered_at) for r in server.requests})
    assert answers == [
        ("state", -1, 107.5),
        ("state", 200, 108.0),
        ("state", 503, 105.0),
        ("token", 200, 100.0),
    ]


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


# --- the read endpoints ------------------------------------------------------------

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)
HOME = "loc_demo_home"
PRICES: dict[str, Any] = {
    "location_id": HOME,
    "start_time": "2026-11-28T09:30:00Z",
    "end_time": "2026-11-29T09:30:00Z",
}
SCHEDULE: dict[str, Any] = {**PRICES, "segment": "LOW", "duration": 60}


@pytest.fixture
async def demo(socket_enabled: None) -> AsyncGenerator[FlatpeakSandbox]:
    """The command line's sandbox (the default device and the demo batteries)."""
    sandbox = build_sandbox(parser().parse_args(["--port", "0"]))
    await sandbox.start()
    sandbox.reads.utcnow = lambda: NOW
    yield sandbox
    await sandbox.stop()


@pytest.fixture
async def demo_http(demo: FlatpeakSandbox) -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(base_url=demo.url) as session:
        yield session


async def call(
    http: aiohttp.ClientSession,
    headers: dict[str, str],
    method: str,
    path: str,
    body: Any = None,
    **params: str,
) -> tuple[int, Any]:
    async with http.request(
        method, path, json=body, headers=headers, params=params or None
    ) as response:
        return response.status, await response.json()


def test_demo_batteries_have_locations_two_share_one() -> None:
    devices = build_sandbox(parser().parse_args([])).devices
    assert {d: f["locations"] for d, f in devices.items()} == {
        DEFAULT_DEVICE_ID: ["loc_sandbox0000000000000001"],
        "dev_demo1": [HOME],
        "dev_demo2": [HOME],
        "dev_demo3": ["loc_demo_barn"],
    }
    assert DEVICE_LOCATIONS["dev_demo1"] == DEVICE_LOCATIONS["dev_demo2"] == HOME


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"/devices/{DEFAULT_DEVICE_ID}/state"),
        ("GET", f"/locations/{HOME}"),
        ("GET", "/vpp-participations?device_id=dev_demo1"),
        ("POST", "/prices"),
        ("POST", f"/prices/{HOME}"),
        ("POST", "/schedules/duration"),
    ],
)
async def test_read_endpoints_need_a_token(
    demo_http: aiohttp.ClientSession, method: str, path: str
) -> None:
    status, body = await call(demo_http, {"Authorization": "Bearer x"}, method, path)
    assert (status, body["code"]) == (401, "unauthorized")


async def test_location_lists_its_devices_and_tariffs(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox
) -> None:
    headers = await bearer(demo_http, demo)
    status, home = await call(demo_http, headers, "GET", f"/locations/{HOME}")
    assert status == 200
    assert home["devices"] == ["dev_demo1", "dev_demo2"]
    assert (home["timezone"], home["currency_code"]) == ("Europe/London", "GBP")
    assert [(t["direction"], t["status"]) for t in home["tariff_elements"]] == [
        ("IMPORT", "CONNECTED"),
        ("EXPORT", "CONNECTED"),
    ]
    assert (await call(demo_http, headers, "GET", "/locations/loc_x"))[0] == 404


async def test_device_state_read_back(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox
) -> None:
    headers = await bearer(demo_http, demo)
    path = "/devices/dev_demo1/state"
    status, body = await call(demo_http, headers, "GET", path)
    assert (status, body["code"]) == (404, "device_state_not_found")
    sent = {**VALID, "energy_flow_direction": "EXPORT", "battery_power_kw": 3.4}
    await put_state(
        demo_http, headers, {**sent, "record_reference_id": "a"}, "dev_demo1"
    )
    later = {**VALID, "time": "2026-11-28T09:31:00Z", "backup_reserve_percent": 10}
    _, record = await put_state(demo_http, headers, later, "dev_demo1")
    # The same record again is not a new state.
    await put_state(
        demo_http, headers, {**sent, "record_reference_id": "a"}, "dev_demo1"
    )
    status, body = await call(demo_http, headers, "GET", path)
    assert status == 200
    assert body == {
        "id": record["id"],
        "object": "device_state",
        "account_id": demo.account_id,
        "location_id": HOME,
        "time_created": record["time_created"],
        "time": "2026-11-28T09:31:00Z",
        "state_of_charge_percent": 42.5,
        "target_state_of_charge_percent": 80,
        "backup_reserve_percent": 10,
    }
    await click(demo_http, {"unknown_device": "on"})
    assert (await call(demo_http, headers, "GET", path))[0] == 404


@pytest.mark.parametrize(
    ("body", "signed"),
    [
        ({"battery_power_kw": 3.4, "energy_flow_direction": "IMPORT"}, 3.4),
        ({"battery_power_kw": 3.4, "energy_flow_direction": "EXPORT"}, -3.4),
        ({"battery_power_kw": -3.4, "energy_flow_direction": "IMPORT"}, 3.4),
        ({"battery_power_kw": -1.5}, -1.5),
        ({"battery_power_kw": 0, "energy_flow_direction": "EXPORT"}, 0),
        ({"energy_flow_direction": "EXPORT"}, None),
    ],
)
def test_signed_power_positive_is_charging(
    body: dict[str, Any], signed: float | None
) -> None:
    assert signed_power(body) == signed


PRICE_ERRORS = [
    ({"colour": "blue"}, 400, "unknown_field"),
    ({"location_id": None}, 400, "invalid_type"),
    ({"end_time": "tomorrow"}, 400, "invalid_time"),
    ({"tariff_direction": "import"}, 400, "invalid_enum"),
    ({"start_time": "2026-11-29T09:30:00Z"}, 422, "invalid_time_range"),
    ({"end_time": "2027-02-26T09:30:01Z"}, 422, "time_range_too_long"),
    ({"location_id": "loc_x"}, 404, "not_found"),
    ({"device_id": "dev_demo3"}, 422, "device_location_mismatch"),
    ({"device_id": "dev_x"}, 404, "not_found"),
    ({"tariff_direction": "LOCAL"}, 422, "no_tariff_connected"),
]


@pytest.mark.parametrize(("change", "status", "code"), PRICE_ERRORS)
async def test_price_requests_checked(
    demo_http: aiohttp.ClientSession,
    demo: FlatpeakSandbox,
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    headers = await bearer(demo_http, demo)
    body = {**PRICES, **change}
    got, answer = await call(demo_http, headers, "POST", "/prices", body)
    assert (got, answer["code"]) == (status, code)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "missing_field"),
        ({"end_time": PRICES["end_time"], "location_id": HOME}, 400, "unknown_field"),
        (
            {"end_time": PRICES["end_time"], "device_id": "dev_demo1"},
            400,
            "unknown_field",
        ),
        ("[]", 400, "invalid_body"),
    ],
)
async def test_price_path_variant_checked(
    demo_http: aiohttp.ClientSession,
    demo: FlatpeakSandbox,
    body: Any,
    status: int,
    code: str,
) -> None:
    headers = await bearer(demo_http, demo)
    got, answer = await call(demo_http, headers, "POST", f"/prices/{HOME}", body)
    assert (got, answer["code"]) == (status, code)


async def test_price_body_needs_location_and_end(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox
) -> None:
    headers = await bearer(demo_http, demo)
    for missing in ("location_id", "end_time"):
        body = {k: v for k, v in PRICES.items() if k != missing}
        got, answer = await call(demo_http, headers, "POST", "/prices", body)
        assert (got, answer["code"]) == (400, "missing_field")


async def test_price_curve(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox
) -> None:
    headers = await bearer(demo_http, demo)
    body = {**PRICES, "end_time": "2026-11-30T10:30:00+01:00", "device_id": "dev_demo2"}
    status, answer = await call(demo_http, headers, "POST", "/prices", body)
    assert status == 200
    assert answer["device_id"] == "dev_demo2"
    assert answer["tariff_direction"] == "IMPORT"  # the default
    assert answer["id"].startswith("prs_")
    slots = answer["data"]
    # Times come in the offset of the request's end_time.
    assert slots[0]["valid_from"] == "2026-11-28T10:30:00+01:00"
    assert slots[-1]["valid_to"] == "2026-11-30T10:30:00+01:00"
    starts = [datetime.fromisoformat(s["valid_from"]) for s in slots]
    ends = [datetime.fromisoformat(s["valid_to"]) for s in slots]
    assert starts[1:] == ends[:-1]
    assert all(moment.minute in (0, 30) for moment in starts[1:])
    # Variable length: the night rate is one slot of five hours.
    assert timedelta(hours=5) in {e - s for s, e in zip(starts, ends, strict=True)}
    horizon = NOW + timedelta(hours=24)
    assert {
        s["price"]["confidence"]
        for s, t in zip(slots, starts, strict=True)
        if t < horizon
    } == {1.0}
    assert {
        s["price"]["confidence"]
        for s, t in zip(slots, starts, strict=True)
        if t >= horizon
    } == {0.8}
    # Deterministic, and the same for every device of the location.
    _, again = await call(
        demo_http, headers, "POST", "/prices", {**body, "device_id": "dev_demo1"}
    )
    assert again["data"] == slots
    assert again["last_updated"] == answer["last_updated"]


def test_forecast_confidence_falls_with_distance() -> None:
    days = (0, 1, 31, 61, 92, 200)
    ahead = [prices.confidence(NOW + timedelta(days=d), NOW) for d in days]
    assert ahead == [1.0, 0.8, 0.6, 0.4, 0.2, 0.2]
    assert prices.confidence(NOW - timedelta(days=3), NOW) == 1.0


async def test_price_path_variant_answers_the_older_shape(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox
) -> None:
    headers = await bearer(demo_http, demo)
    body = {"end_time": PRICES["end_time"], "tariff_direction": "EXPORT"}
    status, answer = await call(demo_http, headers, "POST", f"/prices/{HOME}", body)
    assert status == 200
    assert "device_id" not in answer
    assert "tariff_direction" not in answer
    assert answer["request"] == {
        "start_time": "2026-11-28T09:30:00Z",  # "now" when start_time is left out
        "end_time": PRICES["end_time"],
        "tariff_direction": "EXPORT",
    }
    demo.reads.price_routes = {"body"}
    assert (await call(demo_http, headers, "POST", f"/prices/{HOME}", body))[0] == 404


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"segment": None}, 400, "invalid_type"),
        ({"segment": "CHEAP"}, 400, "invalid_enum"),
        ({"duration": 60.5}, 400, "invalid_type"),
        ({"duration": "60"}, 400, "invalid_type"),
        ({"duration": 0}, 422, "out_of_range"),
        ({"duration": 24 * 60 + 1}, 422, "duration_exceeds_window"),
        ({"end_time": "2026-12-01T09:30:01Z"}, 422, "time_range_too_long"),
        ({"limit": 1}, 400, "unknown_field"),
        (
            {"tariff_direction": "EXPORT", "device_id": "dev_demo3"},
            422,
            "device_location_mismatch",
        ),
    ],
)
async def test_schedule_requests_checked(
    demo_http: aiohttp.ClientSession,
    demo: FlatpeakSandbox,
    change: dict[str, Any],
    status: int,
    code: str,
) -> None:
    headers = await bearer(demo_http, demo)
    body = {**SCHEDULE, **change}
    got, answer = await call(demo_http, headers, "POST", "/schedules/duration", body)
    assert (got, answer["code"]) == (status, code)


@pytest.mark.parametrize(
    "required", ["location_id", "start_time", "end_time", "segment", "duration"]
)
async def test_schedule_required_fields(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox, required: str
) -> None:
    headers = await bearer(demo_http, demo)
    body = {k: v for k, v in SCHEDULE.items() if k != required}
    got, answer = await call(demo_http, headers, "POST", "/schedules/duration", body)
    assert (got, answer["code"]) == (400, "missing_field")


@pytest.mark.parametrize("segment", ["LOW", "HIGH"])
@pytest.mark.parametrize("duration", [30, 45, 200, 24 * 60])
async def test_schedule_picks_from_the_price_curve(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox, segment: str, duration: int
) -> None:
    headers = await bearer(demo_http, demo)
    body = {
        **SCHEDULE,
        "segment": segment,
        "duration": duration,
        "device_id": "dev_demo1",
    }
    status, answer = await call(demo_http, headers, "POST", "/schedules/duration", body)
    assert status == 200
    assert answer["object"] == "schedule_duration"
    _, curve = await call(demo_http, headers, "POST", "/prices", PRICES)
    values = sorted(s["price"]["value"] for s in curve["data"])
    picked = [
        (
            datetime.fromisoformat(s["start_time"]),
            datetime.fromisoformat(s["end_time"]),
            s["price"]["value"],
        )
        for s in answer["data"]
    ]
    assert sum((e - s for s, e, _ in picked), timedelta()) == timedelta(
        minutes=duration
    )
    assert all(not s["vpp_event"] for s in answer["data"])
    # No price left out is better than one picked.
    chosen = {v for _, _, v in picked}
    left = [v for v in values if v not in chosen]
    if segment == "LOW":
        assert not left or max(chosen) <= min(left)
    else:
        assert not left or min(chosen) >= max(left)


async def test_vpp_participations_listing(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox
) -> None:
    headers = await bearer(demo_http, demo)
    older = [demo.reads.vpp.add_older("dev_demo1")["id"] for _ in range(3)]
    status, page = await call(
        demo_http,
        headers,
        "GET",
        "/vpp-participations",
        device_id="dev_demo1",
        limit="2",
    )
    assert status == 200
    assert (page["object"], page["url"], page["has_more"]) == (
        "list",
        "/vpp-participations",
        True,
    )
    current = page["data"][0]
    assert [p["id"] for p in page["data"]] == [current["id"], older[0]]
    assert current["current_state"] == "ACTIVE"
    assert current["location_id"] == HOME
    assert [e["status"] for e in current["participation_state"]][-1] == "IN_PROGRESS"
    _, rest = await call(
        demo_http,
        headers,
        "GET",
        "/vpp-participations",
        device_id="dev_demo1",
        limit="2",
        starting_after=older[0],
    )
    assert ([p["id"] for p in rest["data"]], rest["has_more"]) == (older[1:], False)
    _, before = await call(
        demo_http,
        headers,
        "GET",
        "/vpp-participations",
        device_id="dev_demo1",
        limit="1",
        ending_before=older[1],
    )
    assert ([p["id"] for p in before["data"]], before["has_more"]) == ([older[0]], True)
    _, other = await call(
        demo_http, headers, "GET", "/vpp-participations", device_id="dev_nobody"
    )
    assert other["data"] == []


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({}, "missing_parameter"),
        ({"device_id": "dev_demo1", "location_id": HOME}, "unknown_parameter"),
        (
            {"device_id": "dev_demo1", "starting_after": "a", "ending_before": "b"},
            "invalid_request",
        ),
        ({"device_id": "dev_demo1", "limit": "0"}, "invalid_limit"),
        ({"device_id": "dev_demo1", "limit": "many"}, "invalid_limit"),
        ({"device_id": "dev_demo1", "starting_after": "vpo_x"}, "invalid_cursor"),
    ],
)
async def test_vpp_participations_query_checked(
    demo_http: aiohttp.ClientSession,
    demo: FlatpeakSandbox,
    params: dict[str, str],
    code: str,
) -> None:
    headers = await bearer(demo_http, demo)
    status, answer = await call(
        demo_http, headers, "GET", "/vpp-participations", **params
    )
    assert (status, answer["code"]) == (400, code)


async def test_read_controls_over_http(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox
) -> None:
    headers = await bearer(demo_http, demo)

    async def control(data: dict[str, Any]) -> int:
        async with demo_http.post("/_sandbox/faults", json=data) as response:
            return response.status

    async def participation(device_id: str) -> dict[str, Any] | None:
        _, page = await call(
            demo_http, headers, "GET", "/vpp-participations", device_id=device_id
        )
        return page["data"][0] if page["data"] else None

    assert (
        await control(
            {
                "participation": "suspended",
                "reason": "OPERATOR_REQUEST",
                "device_id": "dev_demo1",
            }
        )
        == 200
    )
    assert await control({"telemetry_active": False}) == 200
    suspended = await participation("dev_demo1")
    assert suspended is not None
    assert (suspended["current_state"], suspended["suspension_reasons"]) == (
        "SUSPENDED",
        ["OPERATOR_REQUEST"],
    )
    assert (suspended["control_active"], suspended["telemetry_active"]) == (
        False,
        False,
    )
    in_progress = [
        e for e in suspended["participation_state"] if e["status"] == "IN_PROGRESS"
    ]
    assert [(e["state"], e["suspension_reasons"]) for e in in_progress] == [
        ("SUSPENDED", ["OPERATOR_REQUEST"])
    ]
    other = await participation("dev_demo2")
    assert other is not None
    assert other["current_state"] == "ACTIVE"
    assert await control({"participation": "none"}) == 200  # every device
    assert await participation("dev_demo1") is None
    assert await control({"tariff": "no_price_data", "direction": "EXPORT"}) == 200
    status, answer = await call(
        demo_http, headers, "POST", "/prices", {**PRICES, "tariff_direction": "EXPORT"}
    )
    assert (status, answer["code"]) == (422, "no_price_data")
    assert await control({"tariff": "pending"}) == 200  # import and export
    assert demo.reads.tariffs == {
        "IMPORT": "pending",
        "EXPORT": "pending",
        "LOCAL": "not_connected",
    }
    for bad in (
        {"tariff": "maybe"},
        {"tariff": "connected", "direction": "SIDEWAYS"},
        {"participation": "paused"},
        {"participation": "suspended", "reason": "BORED"},
    ):
        assert await control(bad) == 400


@pytest.mark.parametrize(
    ("endpoint", "method", "path", "body"),
    [
        ("state_read", "GET", f"/devices/{DEFAULT_DEVICE_ID}/state", None),
        ("location", "GET", f"/locations/{HOME}", None),
        ("vpp_participations", "GET", "/vpp-participations?device_id=dev_demo1", None),
        ("prices", "POST", "/prices", PRICES),
        ("prices", "POST", f"/prices/{HOME}", {"end_time": PRICES["end_time"]}),
        ("schedules", "POST", "/schedules/duration", SCHEDULE),
    ],
)
async def test_faults_target_each_read_endpoint(
    demo_http: aiohttp.ClientSession,
    demo: FlatpeakSandbox,
    endpoint: str,
    method: str,
    path: str,
    body: Any,
) -> None:
    headers = await bearer(demo_http, demo)
    await put_state(demo_http, headers, VALID)
    for other in (
        "state",
        "state_read",
        "location",
        "vpp_participations",
        "prices",
        "schedules",
    ):
        if other != endpoint:
            demo.fail_next(500, endpoint=other)
    demo.fail_next(503, endpoint=endpoint, retry_after="7")
    status, answer = await call(demo_http, headers, method, path, body)
    assert (status, answer["type"]) == (503, "api_error")
    assert (await call(demo_http, headers, method, path, body))[0] == 200
    assert [r.status for r in demo.requests_to(endpoint)] == [503, 200]


async def test_page_has_the_read_controls(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox
) -> None:
    forms = await page_forms(demo_http)
    for direction in ("IMPORT", "EXPORT"):
        for state in ("connected", "not_connected", "pending", "no_price_data"):
            assert {"tariff": state, "direction": direction} in forms
    assert {"participation": "active"} in forms
    assert {"participation": "none"} in forms
    assert {"participation": "suspended", "reason": "AWAITING_TELEMETRY"} in forms
    assert {"telemetry_active": "on"} in forms
    assert {"telemetry_active": "off"} in forms
    async with demo_http.get("/_sandbox") as response:
        page = await response.text()
    assert f"<code>{HOME}</code>" in page


async def test_page_read_controls_take_effect(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox
) -> None:
    headers = await bearer(demo_http, demo)
    await click(demo_http, {"tariff": "not_connected", "direction": "IMPORT"})
    status, answer = await call(demo_http, headers, "POST", "/prices", PRICES)
    assert (status, answer["code"]) == (422, "no_tariff_connected")
    _, home = await call(demo_http, headers, "GET", f"/locations/{HOME}")
    assert [t["direction"] for t in home["tariff_elements"]] == ["EXPORT"]
    await click(demo_http, {"tariff": "connected", "direction": "IMPORT"})
    assert (await call(demo_http, headers, "POST", "/prices", PRICES))[0] == 200
    await click(demo_http, {"participation": "suspended", "reason": "CUSTOMER_REQUEST"})
    await click(demo_http, {"telemetry_active": "off"})
    async with demo_http.get("/_sandbox") as response:
        assert "suspended (CUSTOMER_REQUEST)" in await response.text()
    _, page = await call(
        demo_http, headers, "GET", "/vpp-participations", device_id="dev_demo3"
    )
    (only,) = page["data"]
    assert (
        only["current_state"],
        only["suspension_reasons"],
        only["telemetry_active"],
    ) == (
        "SUSPENDED",
        ["CUSTOMER_REQUEST"],
        False,
    )
    await click(demo_http, {"participation": "none"})
    _, page = await call(
        demo_http, headers, "GET", "/vpp-participations", device_id="dev_demo3"
    )
    assert page["data"] == []


async def test_a_price_override_cuts_the_curve_for_prices_and_schedules(
    demo_http: aiohttp.ClientSession, demo: FlatpeakSandbox
) -> None:
    headers = await bearer(demo_http, demo)

    async def control(data: dict[str, Any]) -> int:
        async with demo_http.post("/_sandbox/faults", json=data) as response:
            return response.status

    dip = {"start": "2026-11-28T12:10:00Z", "end": "2026-11-28T12:13:00Z"}
    assert await control({"price_override": {**dip, "value": 0.01}}) == 200
    window = {"start_time": "2026-11-28T12:00:00Z", "end_time": "2026-11-28T12:30:00Z"}
    _, curve = await call(demo_http, headers, "POST", "/prices", {**PRICES, **window})
    assert [
        (s["valid_from"][11:16], s["valid_to"][11:16], s["price"]["value"])
        for s in curve["data"]
    ] == [("12:00", "12:10", 0.27), ("12:10", "12:13", 0.01), ("12:13", "12:30", 0.27)]
    body = {**SCHEDULE, **window, "duration": 2}
    _, picked = await call(demo_http, headers, "POST", "/schedules/duration", body)
    assert [(s["start_time"], s["end_time"]) for s in picked["data"]] == [
        ("2026-11-28T12:10:00Z", "2026-11-28T12:12:00Z")
    ]
    # Per direction: the export curve is untouched.
    export = {**PRICES, **window, "tariff_direction": "EXPORT"}
    _, curve = await call(demo_http, headers, "POST", "/prices", export)
    assert len(curve["data"]) == 1
    for bad in (
        {"price_override": {**dip, "value": "cheap"}},
        {"price_override": {"start": dip["end"], "end": dip["start"], "value": 0}},
        {"price_override": {**dip, "value": 0, "direction": "SIDEWAYS"}},
        {"price_override": {"start": 12, "end": dip["end"], "value": 0}},
        {"price_override": "12:10"},
    ):
        assert await control(bad) == 400, bad
    assert await control({"price_override": None}) == 200  # clears them
    _, curve = await call(demo_http, headers, "POST", "/prices", {**PRICES, **window})
    assert len(curve["data"]) == 1
