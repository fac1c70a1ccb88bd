"""Tests of the Flatpeak API client against the real sandbox over loopback."""

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
import logging

import aiohttp
import pytest

from custom_components.flatpeak.api import (
    DeviceState,
    EnergyFlowDirection,
    FlatpeakAuthenticationError,
    FlatpeakClient,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakRateLimitError,
    FlatpeakResponseError,
    FlatpeakServerError,
    FlatpeakTimeoutError,
    FlatpeakValidationError,
    __version__,
    parse_retry_after,
)
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from .conftest import SandboxFactory

NOW = datetime(2026, 11, 28, 9, 30, tzinfo=UTC)


class FakeClock:
    """A monotonic clock the test moves by hand, shared by client and sandbox."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def a_state(**overrides: object) -> DeviceState:
    values: dict[str, object] = {
        "time": NOW,
        "state_of_charge_percent": 55.5,
        "target_state_of_charge_percent": 80,
    }
    values.update(overrides)
    return DeviceState(**values)  # type: ignore[arg-type]


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
def client(sandbox: FlatpeakSandbox, session: aiohttp.ClientSession) -> FlatpeakClient:
    return FlatpeakClient(
        session, sandbox.account_id, sandbox.secret_key, base_url=sandbox.url
    )


async def test_get_device_and_user_agent(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    device = await client.get_device(DEFAULT_DEVICE_ID)
    assert device.id == DEFAULT_DEVICE_ID
    assert device.manufacturer == "Sandbox Energy"
    assert device.model == "Sandbox Battery 10"
    assert device.type == "BATTERY_SYSTEM"
    assert device.live_mode is False
    assert [r.endpoint for r in sandbox.requests] == ["token", "device"]
    assert {r.user_agent for r in sandbox.requests} == {
        f"HomeAssistant-Flatpeak/{__version__}"
    }


async def test_submit_device_state(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    state = a_state(
        battery_power_kw=3.4,
        energy_flow_direction=EnergyFlowDirection.EXPORT,
        energy_remaining_kwh=8.25,
        backup_reserve_percent=20,
        record_reference_id="ref-1",
    )
    record = await client.submit_device_state(DEFAULT_DEVICE_ID, state)
    assert record.id.startswith("dsr_")
    assert record.device_id == DEFAULT_DEVICE_ID
    assert record.account_id == sandbox.account_id
    assert record.time_created.tzinfo is not None
    assert sandbox.states() == [state.to_json()]
    # The same reference id is the same record at the API.
    again = await client.submit_device_state(DEFAULT_DEVICE_ID, state)
    assert again.id == record.id
    assert len(sandbox.states()) == 1
    assert sandbox.duplicates == 1


async def test_token_is_cached(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    await client.get_device(DEFAULT_DEVICE_ID)
    await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    await client.get_device(DEFAULT_DEVICE_ID)
    assert len(sandbox.requests_to("token")) == 1


async def test_token_refreshed_shortly_before_expiry(
    session: aiohttp.ClientSession, make_sandbox: SandboxFactory
) -> None:
    clock = FakeClock()
    sandbox = await make_sandbox(token_lifetime=300, clock=clock)
    client = FlatpeakClient(
        session,
        sandbox.account_id,
        sandbox.secret_key,
        base_url=sandbox.url,
        clock=clock,
    )
    await client.get_device(DEFAULT_DEVICE_ID)
    clock.now += 269  # 30 s margin (a tenth of 300 s) not reached yet
    await client.get_device(DEFAULT_DEVICE_ID)
    assert len(sandbox.requests_to("token")) == 1
    clock.now += 2  # inside the margin: refresh before the API refuses it
    await client.get_device(DEFAULT_DEVICE_ID)
    assert len(sandbox.requests_to("token")) == 2
    assert all(r.status == 200 for r in sandbox.requests)


@pytest.mark.parametrize(
    ("response", "lifetime"),
    [
        ({"token": "t-1", "expires_in": 120}, 120),
        ({"access_token": "t-1"}, 3600),
        ({"bearer_token": "t-1", "expires_in": True}, 3600),
        ({"bearer_token": "t-1", "expires_at": "not a time"}, 3600),
        ({"bearer_token": "t-1", "expires_at": "2000-01-01T00:00:00Z"}, 3600),
    ],
)
async def test_token_response_is_parsed_tolerantly(
    session: aiohttp.ClientSession,
    make_sandbox: SandboxFactory,
    response: dict[str, object],
    lifetime: float,
) -> None:
    clock = FakeClock()
    sandbox = await make_sandbox(clock=clock)
    issued: list[str] = []

    def answer(token: str, _lifetime: float) -> dict[str, object]:
        issued.append(token)
        body = dict(response)
        key = next(k for k in ("token", "access_token", "bearer_token") if k in body)
        body[key] = token
        return body

    sandbox.token_response = answer
    client = FlatpeakClient(
        session,
        sandbox.account_id,
        sandbox.secret_key,
        base_url=sandbox.url,
        clock=clock,
    )
    await client.get_device(DEFAULT_DEVICE_ID)
    refresh_at = lifetime - min(60, lifetime / 10)
    clock.now += refresh_at - 1
    await client.get_device(DEFAULT_DEVICE_ID)
    assert len(issued) == 1
    clock.now += 1
    await client.get_device(DEFAULT_DEVICE_ID)
    assert len(issued) == 2


async def test_token_expires_at_is_honoured(
    session: aiohttp.ClientSession, make_sandbox: SandboxFactory
) -> None:
    clock = FakeClock()
    sandbox = await make_sandbox(clock=clock)
    sandbox.token_response = lambda token, _: {
        "bearer_token": token,
        "expires_at": (datetime.now(UTC) + timedelta(seconds=600)).isoformat(),
    }
    client = FlatpeakClient(
        session,
        sandbox.account_id,
        sandbox.secret_key,
        base_url=sandbox.url,
        clock=clock,
    )
    await client.get_device(DEFAULT_DEVICE_ID)
    clock.now += 500
    await client.get_device(DEFAULT_DEVICE_ID)
    assert len(sandbox.requests_to("token")) == 1
    clock.now += 50  # within 60 s of expiry
    await client.get_device(DEFAULT_DEVICE_ID)
    assert len(sandbox.requests_to("token")) == 2


@pytest.mark.parametrize(
    "body", ['{"expires_in": 10}', "not json", '["a list"]', '{"bearer_token": ""}']
)
async def test_bad_token_response(
    client: FlatpeakClient, sandbox: FlatpeakSandbox, body: str
) -> None:
    sandbox.fail_next(200, endpoint="token", body=body)
    with pytest.raises(FlatpeakResponseError):
        await client.authenticate()


async def test_expired_token_refreshed_once_and_retried(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    await client.get_device(DEFAULT_DEVICE_ID)
    sandbox.expire_tokens()
    record = await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert record.id.startswith("dsr_")
    assert [(r.endpoint, r.status) for r in sandbox.requests] == [
        ("token", 200),
        ("device", 200),
        ("state", 401),
        ("token", 200),
        ("state", 200),
    ]


async def test_data_call_refused_twice_raises_auth_error(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    sandbox.fail_next(401, 2, endpoint="device", code="unauthorized")
    with pytest.raises(FlatpeakAuthenticationError) as err:
        await client.get_device(DEFAULT_DEVICE_ID)
    assert err.value.code == "unauthorized"
    assert [r.endpoint for r in sandbox.requests] == [
        "token",
        "device",
        "token",
        "device",
    ]


@pytest.mark.parametrize("status", [401, 403])
async def test_token_refused_raises_auth_error(
    client: FlatpeakClient, sandbox: FlatpeakSandbox, status: int
) -> None:
    sandbox.fail_next(status, endpoint="token", code="bad_credentials")
    with pytest.raises(FlatpeakAuthenticationError) as err:
        await client.get_device(DEFAULT_DEVICE_ID)
    assert err.value.status == status
    assert len(sandbox.requests) == 1


async def test_wrong_secret(
    sandbox: FlatpeakSandbox, session: aiohttp.ClientSession
) -> None:
    client = FlatpeakClient(
        session, sandbox.account_id, "sk_test_wrong", base_url=sandbox.url
    )
    with pytest.raises(FlatpeakAuthenticationError) as err:
        await client.authenticate()
    assert err.value.code == "invalid_credentials"
    assert err.value.message == "Invalid credentials"


@pytest.mark.parametrize(
    ("status", "error", "retry_after", "expected"),
    [
        (404, FlatpeakNotFoundError, None, None),
        (400, FlatpeakValidationError, None, None),
        (422, FlatpeakValidationError, None, None),
        (429, FlatpeakRateLimitError, "17", 17.0),
        (429, FlatpeakRateLimitError, None, None),
        (503, FlatpeakServerError, "120", 120.0),
        (500, FlatpeakServerError, None, None),
        (409, FlatpeakError, None, None),
    ],
)
async def test_error_mapping(
    client: FlatpeakClient,
    sandbox: FlatpeakSandbox,
    status: int,
    error: type[FlatpeakError],
    retry_after: str | None,
    expected: float | None,
) -> None:
    sandbox.fail_next(
        status, endpoint="state", retry_after=retry_after, code=f"code_{status}"
    )
    with pytest.raises(error) as err:
        await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert type(err.value) is error
    assert err.value.status == status
    assert err.value.code == f"code_{status}"
    assert err.value.message == "Fault injected by the sandbox"
    assert getattr(err.value, "retry_after", None) == expected


async def test_retry_after_http_date(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    when = datetime.now(UTC) + timedelta(seconds=90)
    sandbox.fail_next(
        429, endpoint="state", retry_after=format_datetime(when, usegmt=True)
    )
    with pytest.raises(FlatpeakRateLimitError) as err:
        await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert err.value.retry_after is not None
    assert 85 <= err.value.retry_after <= 90


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after("") is None
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 -0000", now=now) == 30.0


async def test_error_without_envelope(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    sandbox.fail_next(502, endpoint="state", body="<html>Bad gateway</html>")
    with pytest.raises(FlatpeakServerError) as err:
        await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert err.value.code is None
    assert err.value.message == "The Flatpeak API answered HTTP 502"


@pytest.mark.parametrize("body", ["not json", '{"id": "dsr_1"}', "[]", ""])
async def test_malformed_state_response(
    client: FlatpeakClient, sandbox: FlatpeakSandbox, body: str
) -> None:
    sandbox.fail_next(200, endpoint="state", body=body)
    with pytest.raises(FlatpeakResponseError):
        await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())


@pytest.mark.parametrize("body", ['{"name": "no id"}', "null"])
async def test_malformed_device_response(
    client: FlatpeakClient, sandbox: FlatpeakSandbox, body: str
) -> None:
    sandbox.fail_next(200, endpoint="device", body=body)
    with pytest.raises(FlatpeakResponseError):
        await client.get_device(DEFAULT_DEVICE_ID)


async def test_timeout(
    sandbox: FlatpeakSandbox, session: aiohttp.ClientSession
) -> None:
    client = FlatpeakClient(
        session,
        sandbox.account_id,
        sandbox.secret_key,
        base_url=sandbox.url,
        timeout=0.05,
    )
    sandbox.latency = 0.5
    with pytest.raises(FlatpeakTimeoutError):
        await client.authenticate()


async def test_connection_refused(
    sandbox: FlatpeakSandbox, client: FlatpeakClient
) -> None:
    await sandbox.stop()
    with pytest.raises(FlatpeakConnectionError) as err:
        await client.authenticate()
    assert "127.0.0.1" in str(err.value)


async def test_connection_dropped(
    sandbox: FlatpeakSandbox, client: FlatpeakClient
) -> None:
    await client.authenticate()
    # aiohttp retries an idempotent request once on a dropped keep-alive connection.
    sandbox.drop_next(2, endpoint="state")
    with pytest.raises(FlatpeakConnectionError):
        await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert sandbox.states() == []
    await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert len(sandbox.states()) == 1


async def test_secrets_never_leak(
    sandbox: FlatpeakSandbox,
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens: list[str] = []
    sandbox.token_response = lambda token, lifetime: (
        tokens.append(token) or {"bearer_token": token, "expires_in": lifetime}
    )
    client = FlatpeakClient(
        session, sandbox.account_id, sandbox.secret_key, base_url=sandbox.url
    )
    errors: list[BaseException] = []
    await client.get_device(DEFAULT_DEVICE_ID)
    for status in (401, 404, 422, 429, 500, 503):
        sandbox.fail_next(status, 2, endpoint="state", retry_after="1")
        try:
            await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
        except FlatpeakError as err:
            errors.append(err)
    sandbox.reject_credentials = True
    sandbox.expire_tokens()
    try:
        await client.get_device(DEFAULT_DEVICE_ID)
    except FlatpeakError as err:
        errors.append(err)
    assert len(errors) == 7
    assert tokens
    texts = [caplog.text, repr(client), str(client)]
    texts += [
        f"{err!s} {err!r} {err.__cause__!r} {err.__context__!r}" for err in errors
    ]
    for text in texts:
        assert sandbox.secret_key not in text
        assert "Bearer" not in text
        assert "Authorization" not in text
        for token in tokens:
            assert token not in text


# --- serialisation --------------------------------------------------------


def test_state_serialises_to_exactly_the_spec() -> None:
    state = DeviceState(
        time=datetime(2026, 6, 1, 12, 0, 5, tzinfo=timezone(timedelta(hours=2))),
        state_of_charge_percent=34,
        target_state_of_charge_percent=80.5,
    )
    assert state.to_json() == {
        "time": "2026-06-01T10:00:05Z",
        "state_of_charge_percent": 34,
        "target_state_of_charge_percent": 80.5,
    }
    assert isinstance(state.to_json()["state_of_charge_percent"], int)


def test_state_with_every_field() -> None:
    state = DeviceState(
        time=datetime(2026, 6, 1, 10, 0, 5, 123456, tzinfo=UTC),
        state_of_charge_percent=0,
        target_state_of_charge_percent=100,
        energy_flow_direction=EnergyFlowDirection.IMPORT,
        battery_power_kw=0.0,
        energy_remaining_kwh=12.5,
        backup_reserve_percent=10,
        record_reference_id="ha-1",
    )
    body = state.to_json()
    assert body == {
        "record_reference_id": "ha-1",
        "time": "2026-06-01T10:00:05.123Z",
        "state_of_charge_percent": 0,
        "target_state_of_charge_percent": 100,
        "energy_flow_direction": "IMPORT",
        "battery_power_kw": 0.0,
        "energy_remaining_kwh": 12.5,
        "backup_reserve_percent": 10,
    }
    assert None not in body.values()
    again = DeviceState.from_json(body)
    assert again.to_json() == body
    assert again.time == datetime(2026, 6, 1, 10, 0, 5, 123000, tzinfo=UTC)


@pytest.mark.parametrize(
    "overrides",
    [
        {"time": datetime(2026, 1, 1)},
        {"state_of_charge_percent": 101},
        {"state_of_charge_percent": -0.1},
        {"target_state_of_charge_percent": float("nan")},
        {"backup_reserve_percent": 100.5},
        {"battery_power_kw": -1},
        {"battery_power_kw": float("inf")},
        {"energy_remaining_kwh": True},
        {"state_of_charge_percent": "50"},
        {"energy_flow_direction": "EXPORT"},
        {"record_reference_id": ""},
    ],
)
def test_state_refuses_what_the_api_would(overrides: dict[str, object]) -> None:
    with pytest.raises((TypeError, ValueError)):
        a_state(**overrides)


def test_client_repr_and_base_url(session: aiohttp.ClientSession) -> None:
    client = FlatpeakClient(
        session, "acc_1", "sk_live_secret", base_url="https://example.test/"
    )
    assert client.base_url == "https://example.test"
    assert "sk_live_secret" not in repr(client)
    err = FlatpeakRateLimitError(
        "slow down", code="rate_limited", status=429, retry_after=3
    )
    assert (
        repr(err)
        == "FlatpeakRateLimitError(status=429, code='rate_limited', message='slow down')"
    )


@pytest.mark.parametrize(
    "url", ["http://api.flatpeak.com", "http://10.0.0.2:8080", "ftp://x"]
)
def test_client_refuses_clear_text_urls(
    session: aiohttp.ClientSession, url: str
) -> None:
    with pytest.raises(ValueError, match="https"):
        FlatpeakClient(session, "acc_1", "sk_live_secret", base_url=url)
