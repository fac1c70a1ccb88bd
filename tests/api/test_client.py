"""Tests of the Flatpeak API client against the real sandbox over loopback."""

from collections.abc import AsyncGenerator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
import itertools
import logging
from typing import Self, cast

import aiohttp
import pytest
from yarl import URL

from custom_components.flatpeak.api import (
    API_VERSION,
    KNOWN_VPP_STATES,
    MAX_RETRY_AFTER,
    PRICE_RETRY_INTERVAL,
    Device,
    DeviceState,
    DeviceStateReading,
    EnergyFlowDirection,
    FlatpeakApiUrlError,
    FlatpeakApiVersionError,
    FlatpeakAuthenticationError,
    FlatpeakClient,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakPriceUnavailableError,
    FlatpeakRateLimitError,
    FlatpeakResponseError,
    FlatpeakRetryableError,
    FlatpeakServerError,
    FlatpeakTimeoutError,
    FlatpeakValidationError,
    Location,
    PriceSeries,
    Schedule,
    ScheduleSegment,
    TariffDirection,
    TariffLink,
    VppParticipation,
    __version__,
    parse_retry_after,
)
from custom_components.flatpeak.api.models import format_time
from flatpeak_sandbox import DEFAULT_DEVICE_ID, DEMO_DEVICES, FlatpeakSandbox

from ..conftest import SandboxFactory

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
    assert record.id is not None
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
    assert record.id is not None
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


async def test_put_refused_after_refresh_is_auth(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    """A 401 from the PUT with a fresh token is refused credentials, not a verdict."""
    sandbox.fail_next(401, 2, endpoint="state", code="unauthorized")
    with pytest.raises(FlatpeakAuthenticationError):
        await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert [(r.endpoint, r.status) for r in sandbox.requests] == [
        ("token", 200),
        ("state", 401),
        ("token", 200),
        ("state", 401),
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
        (503, FlatpeakServerError, "0", 0.0),
        (500, FlatpeakServerError, None, None),
        # Only 429 and 503 carry a Retry-After: any other failure backs off.
        (500, FlatpeakServerError, "120", None),
        (502, FlatpeakServerError, "0", None),
        (504, FlatpeakServerError, "120", None),
        (409, FlatpeakRetryableError, None, None),
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
    assert parse_retry_after("5", now=now) == 5.0
    assert parse_retry_after(" 0 ", now=now) == 0.0
    assert parse_retry_after("", now=now) is None
    assert parse_retry_after(None, now=now) is None
    assert parse_retry_after("soon", now=now) is None
    assert parse_retry_after("Thu, 01 Jan 2026 00:01:00 GMT", now=now) == 60.0
    assert parse_retry_after("Wed, 31 Dec 2025 23:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 -0000", now=now) == 30.0
    assert parse_retry_after("7200", now=now, cap=86400) == 7200.0
    # A negative number means "now" (the caller's floor), like a past date.
    assert parse_retry_after("-5", now=now) == 0.0


def test_parse_retry_after_reads_a_date_against_the_answers_date() -> None:
    """An HTTP date is read against the server's own clock when it sent one."""
    now = datetime(2026, 1, 1, tzinfo=UTC)
    server = "Wed, 31 Dec 2025 23:00:00 GMT"  # the server's clock is 1 h behind
    at = "Wed, 31 Dec 2025 23:00:30 GMT"
    assert parse_retry_after(at, now=now, date=server) == 30.0
    assert parse_retry_after(at, now=now) == 0.0
    # A Date header that is no date is ignored: our clock is used.
    assert parse_retry_after(at, now=now, date="yesterday") == 0.0
    # Seconds are seconds, whatever the server's clock says.
    assert parse_retry_after("12", now=now, date=server) == 12.0


@pytest.mark.parametrize("skew", [timedelta(hours=-1), timedelta(hours=2)])
async def test_retry_after_date_against_a_skewed_server_clock(
    clocked_client: FlatpeakClient, sandbox: FlatpeakSandbox, skew: timedelta
) -> None:
    server_now = NOW + skew
    sandbox.fail_next(
        503,
        endpoint="state",
        headers={
            "Date": format_datetime(server_now, usegmt=True),
            "Retry-After": format_datetime(
                server_now + timedelta(seconds=45), usegmt=True
            ),
        },
    )
    with pytest.raises(FlatpeakServerError) as err:
        await clocked_client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert err.value.retry_after == 45.0


async def test_error_without_envelope(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    sandbox.fail_next(502, endpoint="state", body="<html>Bad gateway</html>")
    with pytest.raises(FlatpeakServerError) as err:
        await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert err.value.code is None
    assert err.value.message == "The Flatpeak API answered HTTP 502"


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


# --- error taxonomy: the token endpoint never rejects a record ---------------


def fixed_utcnow() -> datetime:
    return NOW


@pytest.fixture
def clocked_client(
    sandbox: FlatpeakSandbox, session: aiohttp.ClientSession
) -> FlatpeakClient:
    """A client whose wall clock is NOW."""
    return FlatpeakClient(
        session,
        sandbox.account_id,
        sandbox.secret_key,
        base_url=sandbox.url,
        utcnow=fixed_utcnow,
    )


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (401, FlatpeakAuthenticationError),
        (403, FlatpeakAuthenticationError),
        (404, FlatpeakApiUrlError),
        (429, FlatpeakRateLimitError),
        (400, FlatpeakRetryableError),
        (422, FlatpeakRetryableError),
        (409, FlatpeakRetryableError),
        (418, FlatpeakRetryableError),
        (500, FlatpeakServerError),
        (503, FlatpeakServerError),
    ],
)
async def test_token_endpoint_errors(
    client: FlatpeakClient,
    sandbox: FlatpeakSandbox,
    status: int,
    error: type[FlatpeakError],
) -> None:
    """Nothing the token endpoint answers reads as a verdict on a record."""
    await client.get_device(DEFAULT_DEVICE_ID)
    sandbox.expire_tokens()
    sandbox.fail_next(status, endpoint="token", code=f"code_{status}")
    with pytest.raises(FlatpeakError) as err:
        await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert type(err.value) is error
    assert not isinstance(err.value, FlatpeakValidationError | FlatpeakNotFoundError)
    assert err.value.status == status
    assert [(r.endpoint, r.status) for r in sandbox.requests[2:]] == [
        ("state", 401),
        ("token", status),
    ]


async def test_token_endpoint_retry_after(
    clocked_client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    sandbox.fail_next(503, endpoint="token", retry_after="42")
    with pytest.raises(FlatpeakServerError) as err:
        await clocked_client.authenticate()
    assert err.value.retry_after == 42.0


async def test_device_not_found_on_get_and_put(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    """A 404 from the device's own endpoints still means the device is gone."""
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    with pytest.raises(FlatpeakNotFoundError):
        await client.get_device(DEFAULT_DEVICE_ID)
    with pytest.raises(FlatpeakNotFoundError):
        await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())


# --- nothing escapes the client but Flatpeak errors ------------------------------

LATIN1_PAGE = "<html><body>Proxy: accès refusé</body></html>".encode("latin-1")


@pytest.mark.parametrize(
    ("endpoint", "status", "error"),
    [
        ("state", 502, FlatpeakServerError),
        ("state", 400, FlatpeakValidationError),
        ("token", 400, FlatpeakRetryableError),
        ("token", 200, FlatpeakResponseError),
        ("device", 200, FlatpeakResponseError),
    ],
)
async def test_undecodable_body(
    clocked_client: FlatpeakClient,
    sandbox: FlatpeakSandbox,
    endpoint: str,
    status: int,
    error: type[FlatpeakError],
) -> None:
    """A Latin-1 page declared as UTF-8 is an answer, not a UnicodeDecodeError."""
    sandbox.fail_next(
        status,
        endpoint=endpoint,
        body=LATIN1_PAGE,
        content_type="text/html; charset=utf-8",
    )
    call = (
        clocked_client.get_device(DEFAULT_DEVICE_ID)
        if endpoint == "device"
        else clocked_client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    )
    with pytest.raises(FlatpeakError) as err:
        await call
    assert type(err.value) is error
    assert err.value.code is None


@pytest.mark.parametrize(
    "token",
    ["abc\ndef", "abc\r\nX-Injected: 1", "abc\x01def", "abc def", "tökén", "abc\x7f"],
)
async def test_unusable_token_is_a_response_error(
    session: aiohttp.ClientSession, sandbox: FlatpeakSandbox, token: str
) -> None:
    """A token that cannot go into a header is refused before any data call."""
    sandbox.token_response = lambda _token, _lifetime: {"bearer_token": token}
    client = FlatpeakClient(
        session, sandbox.account_id, sandbox.secret_key, base_url=sandbox.url
    )
    with pytest.raises(FlatpeakResponseError) as err:
        await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert token not in str(err.value)
    assert [r.endpoint for r in sandbox.requests] == ["token"]


async def test_unsendable_header_is_a_flatpeak_error(
    session: aiohttp.ClientSession, sandbox: FlatpeakSandbox
) -> None:
    """aiohttp's ValueError for a header with a newline does not escape."""
    client = FlatpeakClient(
        session,
        sandbox.account_id,
        sandbox.secret_key,
        base_url=sandbox.url,
        user_agent="HomeAssistant\r\nX-Injected: 1",
    )
    with pytest.raises(FlatpeakRetryableError):
        await client.authenticate()
    assert sandbox.requests == []


class RaisingSession:
    """The edge: an HTTP session whose every request fails with ``error``."""

    def __init__(self, error: BaseException) -> None:
        self.error = error
        self.calls = 0

    def request(self, *_args: object, **_kwargs: object) -> RaisingSession:
        self.calls += 1
        return self

    async def __aenter__(self) -> None:
        raise self.error

    async def __aexit__(self, *_args: object) -> None:
        return None


@pytest.mark.parametrize(
    ("raised", "error"),
    [
        (
            aiohttp.InvalidURL("https://api.flatpeak.com/auth/tokens"),
            FlatpeakConnectionError,
        ),
        (
            ConnectionResetError(104, "Connection reset by peer"),
            FlatpeakConnectionError,
        ),
        (PermissionError(13, "Permission denied"), FlatpeakConnectionError),
        (OSError(101, "Network is unreachable"), FlatpeakConnectionError),
        (TimeoutError(), FlatpeakTimeoutError),
        (
            ValueError("Newline or carriage return character detected"),
            FlatpeakRetryableError,
        ),
    ],
)
async def test_transport_failures_are_flatpeak_errors(
    raised: BaseException, error: type[FlatpeakError]
) -> None:
    http = RaisingSession(raised)
    client = FlatpeakClient(cast("aiohttp.ClientSession", http), "acc_1", "sk_test_1")
    with pytest.raises(FlatpeakError) as err:
        await client.submit_device_state("dev_1", a_state())
    assert isinstance(err.value, error)
    assert http.calls == 1


class FakeAnswer:
    """An answer whose body is ``body``, or lost (``None``) after the status."""

    def __init__(self, status: int, body: bytes | None) -> None:
        self.status = status
        self.headers = {"Retry-After": "30"}
        self.body = body

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *_args: object) -> None:
        return None

    async def read(self) -> bytes:
        if self.body is None:
            raise aiohttp.ClientPayloadError("Response payload is not completed")
        return self.body


class BodyLostSession:
    """The edge: a token is issued; other answers lose their body."""

    def __init__(self, status: int) -> None:
        self.status = status

    def request(self, _method: str, url: URL, **_kwargs: object) -> FakeAnswer:
        if url.path == "/auth/tokens":
            return FakeAnswer(200, b'{"bearer_token": "t-1"}')
        return FakeAnswer(self.status, None)


async def test_body_lost_after_2xx_still_returns_a_record() -> None:
    client = FlatpeakClient(
        cast("aiohttp.ClientSession", BodyLostSession(200)),
        "acc_1",
        "sk_test_1",
        utcnow=fixed_utcnow,
    )
    record = await client.submit_device_state("dev_1", a_state())
    assert (record.id, record.device_id, record.time_created) == (None, "dev_1", NOW)


async def test_body_lost_after_503_is_a_server_error() -> None:
    client = FlatpeakClient(
        cast("aiohttp.ClientSession", BodyLostSession(503)), "acc_1", "sk_test_1"
    )
    with pytest.raises(FlatpeakServerError) as err:
        await client.submit_device_state("dev_1", a_state())
    assert err.value.retry_after == 30.0
    assert err.value.code is None


# --- Retry-After ------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("²", None),
        ("١٢", None),
        ("1.5", None),
        ("-5", 0.0),
        ("9" * 400, MAX_RETRY_AFTER),
        ("86400", MAX_RETRY_AFTER),
        ("3600", 3600.0),
        (" 7 ", 7.0),
        (format_datetime(NOW + timedelta(seconds=90), usegmt=True), 90.0),
        (format_datetime(NOW + timedelta(days=3), usegmt=True), MAX_RETRY_AFTER),
        (format_datetime(NOW - timedelta(seconds=30), usegmt=True), 0.0),
        ("Thu, 32 Jan 2026 00:00:00 GMT", None),
        ("Fri, 31 Dec 9999 23:59:59 GMT", MAX_RETRY_AFTER),
    ],
)
async def test_retry_after_is_strict_and_capped(
    clocked_client: FlatpeakClient,
    sandbox: FlatpeakSandbox,
    header: str,
    expected: float | None,
) -> None:
    """A Retry-After is ASCII digits or an HTTP date, at most an hour away."""
    sandbox.fail_next(
        429,
        endpoint="state",
        headers={"Retry-After": header, "Date": format_datetime(NOW, usegmt=True)},
    )
    with pytest.raises(FlatpeakRateLimitError) as err:
        await clocked_client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert err.value.retry_after == expected
    assert parse_retry_after(header, now=NOW) == expected


# --- a 2xx means Flatpeak has the record ----------------------------------------


@pytest.mark.parametrize(
    ("body", "record_id", "account_id"),
    [
        ("not json", None, None),
        (LATIN1_PAGE, None, None),
        ("", None, None),
        ("[]", None, None),
        ("null", None, None),
        ("[" * 100_000, None, None),
        ('{"id": "dsr_1"}', "dsr_1", None),
        (
            '{"id": 5, "device_id": 7, "account_id": "acc_1", "time_created": "yesterday"}',
            None,
            "acc_1",
        ),
    ],
)
async def test_odd_2xx_still_returns_a_record(
    clocked_client: FlatpeakClient,
    sandbox: FlatpeakSandbox,
    caplog: pytest.LogCaptureFixture,
    body: str | bytes,
    record_id: str | None,
    account_id: str | None,
) -> None:
    caplog.set_level(logging.DEBUG, "custom_components.flatpeak.api")
    sandbox.fail_next(200, endpoint="state", body=body)
    record = await clocked_client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert record.id == record_id
    assert record.account_id == account_id
    assert record.device_id == DEFAULT_DEVICE_ID
    assert record.time_created == NOW
    assert "unexpected body" in caplog.text


async def test_partial_2xx_keeps_what_it_read(
    clocked_client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    sandbox.fail_next(
        201,
        endpoint="state",
        body='{"id": "dsr_2", "time_created": "2026-11-28T09:31:00Z"}',
    )
    record = await clocked_client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert record.id == "dsr_2"
    assert record.account_id is None
    assert record.time_created == datetime(2026, 11, 28, 9, 31, tzinfo=UTC)


# --- the wall clock is injected -------------------------------------------------


async def test_token_expires_at_uses_the_injected_clock(
    session: aiohttp.ClientSession, make_sandbox: SandboxFactory
) -> None:
    clock = FakeClock()
    sandbox = await make_sandbox(clock=clock)
    sandbox.token_response = lambda token, _: {
        "bearer_token": token,
        "expires_at": format_time(NOW + timedelta(seconds=600)),
    }
    client = FlatpeakClient(
        session,
        sandbox.account_id,
        sandbox.secret_key,
        base_url=sandbox.url,
        clock=clock,
        utcnow=fixed_utcnow,
    )
    await client.get_device(DEFAULT_DEVICE_ID)
    clock.now += 539
    await client.get_device(DEFAULT_DEVICE_ID)
    assert len(sandbox.requests_to("token")) == 1
    clock.now += 2  # within 60 s of the expiry the injected clock computes
    await client.get_device(DEFAULT_DEVICE_ID)
    assert len(sandbox.requests_to("token")) == 2


# --- path segments can never change the request path ---------------------------


@pytest.mark.parametrize(
    ("device_id", "raw"),
    [
        ("dev_x/../../auth/tokens", "dev_x%2F..%2F..%2Fauth%2Ftokens"),
        ("dev_x/state", "dev_x%2Fstate"),
        ("dev a?b#c", "dev%20a%3Fb%23c"),
        ("dev_%2e%2e", "dev_%252e%252e"),
    ],
)
async def test_device_id_is_one_quoted_segment(
    client: FlatpeakClient, sandbox: FlatpeakSandbox, device_id: str, raw: str
) -> None:
    with pytest.raises(FlatpeakNotFoundError):
        await client.get_device(device_id)
    with pytest.raises(FlatpeakNotFoundError):
        await client.submit_device_state(device_id, a_state())
    assert [(r.endpoint, r.raw_path) for r in sandbox.requests] == [
        ("token", "/auth/tokens"),
        ("device", f"/devices/{raw}"),
        ("state", f"/devices/{raw}/state"),
    ]
    assert sandbox.states() == []


@pytest.mark.parametrize("device_id", ["", ".", ".."])
async def test_unusable_path_segment_raises_before_sending(
    client: FlatpeakClient, sandbox: FlatpeakSandbox, device_id: str
) -> None:
    with pytest.raises(ValueError, match="path segment"):
        await client.get_device(device_id)
    with pytest.raises(ValueError, match="path segment"):
        await client.submit_device_state(device_id, a_state())
    assert sandbox.requests == []


# --- the read endpoints: models -----------------------------------------------------


def test_device_locations_in_both_shapes() -> None:
    shape_a = Device.from_json(
        {"id": "dev_1", "locations": ["loc_a", "", 7, "loc_b"], "flex_enabled": True}
    )
    assert shape_a.locations == ("loc_a", "loc_b")
    shape_b = Device.from_json(
        {
            "id": "dev_1",
            "tariffs": [
                {"location_id": "loc_x", "direction": "IMPORT"},
                {"location_id": "loc_x", "direction": "EXPORT"},
                {"location_id": "loc_y"},
                {"direction": "IMPORT"},
                "trf_1",
            ],
        }
    )
    assert shape_b.locations == ("loc_x", "loc_y")
    assert Device.from_json({"id": "dev_1"}).locations == ()
    assert Device.from_json({"id": "dev_1", "locations": "loc_a"}).locations == ()


def test_device_state_reading_keeps_the_read_pages_sign() -> None:
    full = DeviceStateReading.from_json(
        {
            "location_id": "loc_1",
            "id": "dsr_1",
            "object": "device_state",
            "account_id": "acc_1",
            "time": "2026-11-28T10:30:00+01:00",
            "state_of_charge_percent": 56,
            "time_created": "2026-11-28T09:30:01Z",
            "record_reference_id": "ref-9",
            "target_state_of_charge_percent": 80,
            "battery_power_kw": -3.4,
            "energy_remaining_kwh": 7.5,
            "backup_reserve_percent": 20,
        },
        device_id="dev_1",
    )
    assert full == DeviceStateReading(
        device_id="dev_1",
        time=NOW,
        id="dsr_1",
        location_id="loc_1",
        account_id="acc_1",
        record_reference_id="ref-9",
        state_of_charge_percent=56.0,
        target_state_of_charge_percent=80.0,
        battery_power_kw=-3.4,  # negative: discharging, as the read page says
        energy_remaining_kwh=7.5,
        backup_reserve_percent=20.0,
        time_created=NOW + timedelta(seconds=1),
    )
    minimal = DeviceStateReading.from_json(
        {"time": "2026-11-28T09:30:00Z", "battery_power_kw": "3", "device_id": "dev_2"},
        device_id="dev_1",
    )
    assert minimal.device_id == "dev_2"
    assert minimal.battery_power_kw is None
    assert minimal.state_of_charge_percent is None
    assert minimal.time_created is None
    with pytest.raises(TypeError):
        DeviceStateReading.from_json({"id": "dsr_1"}, device_id="dev_1")


def test_location_in_every_documented_shape() -> None:
    retrieve = Location.from_json(
        {
            "id": "loc_1",
            "object": "location",
            "timezone": "Europe/London",
            "currency_code": "GBP",
            "devices": ["dev_1", "dev_2"],
            "tariff_elements": [
                {
                    "status": "CONNECTED",
                    "provider_id": "prv_1",
                    "tariff_id": "trf_1",
                    "devices": ["dev_1"],
                    "type": "COMMODITY",
                    "direction": "IMPORT",
                    "temporary": False,
                    "connect_token": "cot_1",
                },
                {"status": "ERROR", "direction": "EXPORT", "tariff_id": "trf_2"},
            ],
        }
    )
    assert (retrieve.timezone, retrieve.currency_code) == ("Europe/London", "GBP")
    assert retrieve.devices == ("dev_1", "dev_2")
    assert retrieve.tariffs[0] == TariffLink(
        tariff_id="trf_1",
        direction="IMPORT",
        status="CONNECTED",
        type="COMMODITY",
        provider_id="prv_1",
        temporary=False,
        devices=("dev_1",),
    )
    assert retrieve.tariff_connected("IMPORT") is True
    assert retrieve.tariff_connected("EXPORT") is False  # ERROR is not connected
    assert retrieve.tariff_connected("LOCAL") is False  # not listed at all
    listed = Location.from_json(
        {
            "id": "loc_1",
            "tariffs": [
                {
                    "tariff_id": "trf_1",
                    "location_id": "loc_1",
                    "type": "COMMODITY",
                    "direction": "EXPORT",
                    "status": "CONNECTED",
                    "connection_type": "DIRECT",
                    "display_name": "Agile Octopus v3 2024",
                    "is_temporary": True,
                    "provider": {"id": "prv_2", "display_name": "Octopus"},
                }
            ],
        }
    )
    link = listed.tariffs[0]
    assert (link.display_name, link.provider_id, link.provider_name) == (
        "Agile Octopus v3 2024",
        "prv_2",
        "Octopus",
    )
    assert link.temporary is True
    assert listed.tariff_connected("EXPORT") is True
    older = Location.from_json(
        {
            "id": "loc_1",
            "tariff_elements": ["trf_1", "", 5],
            "tariff_status": {
                "commodity_import": "CONNECTED",
                "commodity_export": "NOT_CONNECTED",
                "local": None,
            },
        }
    )
    assert older.tariffs == (TariffLink(tariff_id="trf_1"),)
    assert older.tariff_connected("IMPORT") is True
    assert older.tariff_connected("EXPORT") is False
    assert older.tariff_connected("LOCAL") is None
    bare = Location.from_json({"id": "loc_1", "tariff_elements": None})
    assert (bare.timezone, bare.tariffs, bare.tariff_connected("IMPORT")) == (
        None,
        (),
        None,
    )
    with pytest.raises(TypeError):
        Location.from_json({"object": "location"})


PARTICIPATION = {
    "object": "vpp-participation",
    "id": "vpo_7c2f",
    "live_mode": True,
    "device_id": "dev_1",
    "location_id": "loc_1",
    "control_active": False,
    "telemetry_active": False,
    "participation_state": [
        {
            "state": "ACTIVE",
            "status": "COMPLETE",
            "occurred_at": "2026-11-01T00:00:00Z",
        },
        {
            "state": "SUSPENDED",
            "status": "IN_PROGRESS",
            "description": "Waiting for your battery's data.",
            "occurred_at": "2026-11-27T00:00:00Z",
            "suspension_reasons": ["AWAITING_TELEMETRY"],
        },
        {"state": "ACTIVE", "status": "PENDING", "expected_at": "bad"},
    ],
    "provider": {"id": "prv_1", "provider_display_name": "Flex Co", "logo_url": "u"},
    "programme": {"id": "vpr_1", "display_name": "Saver", "learn_more_url": "l"},
}


def test_vpp_participation_without_current_state_reads_the_timeline() -> None:
    participation = VppParticipation.from_json(PARTICIPATION)
    assert participation.current_state == "SUSPENDED"
    assert participation.suspension_reasons == ("AWAITING_TELEMETRY",)
    assert participation.description == "Waiting for your battery's data."
    assert [e.status for e in participation.timeline] == [
        "COMPLETE",
        "IN_PROGRESS",
        "PENDING",
    ]  # the API's order, not sorted
    assert participation.timeline[2].expected_at is None
    assert (participation.telemetry_active, participation.control_active) == (
        False,
        False,
    )
    assert (participation.provider_name, participation.programme_name) == (
        "Flex Co",
        "Saver",
    )
    assert participation.programme_learn_more_url == "l"


def test_vpp_participation_keeps_unknown_states_and_tolerates_gaps() -> None:
    newer = VppParticipation.from_json(
        {
            **PARTICIPATION,
            "id": "vpp_1",
            "current_state": "AWAITING_GRID_OPERATOR",  # not in any page's list
            "suspension_reasons": ["SOLAR_ECLIPSE"],
        }
    )
    assert newer.current_state == "AWAITING_GRID_OPERATOR"
    assert newer.current_state not in KNOWN_VPP_STATES
    assert newer.suspension_reasons == ("SOLAR_ECLIPSE",)
    bare = VppParticipation.from_json({"id": "vpo_2", "participation_state": "x"})
    assert bare == VppParticipation(id="vpo_2")
    assert (bare.current_state, bare.current_entry, bare.description) == (
        None,
        None,
        None,
    )
    with pytest.raises(TypeError):
        VppParticipation.from_json({"object": "vpp-participation"})


PRICE_BODY = {
    "id": "prs_1",
    "object": "price",
    "location_id": "loc_1",
    "live_mode": False,
    "location_timezone": "Europe/London",
    "currency_code": "GBP",
    "last_updated": "2026-11-28T10:00:00+01:00",
    "device_id": "dev_1",
    "tariff_direction": "EXPORT",
    "data": [
        {
            "valid_from": "2026-11-29T01:00:00Z",
            "valid_to": "2026-11-29T02:30:00Z",
            "price": {"value": 0.15, "confidence": 0.8},
        },
        {
            "valid_from": "2026-11-28T09:00:00Z",
            "valid_to": "2026-11-29T01:00:00Z",
            "price": {"value": 0.2, "confidence": 1},
        },
        {"valid_from": "2026-11-29T02:30:00Z", "valid_to": "2026-11-29T03:00:00Z"},
        {
            "valid_from": "2026-11-29T02:30:00",  # no offset
            "valid_to": "2026-11-29T03:00:00Z",
            "price": {"value": 0.1},
        },
        {
            "valid_from": "2026-11-29T03:00:00Z",
            "valid_to": "2026-11-29T03:00:00Z",
            "price": {"value": 0.1},
        },
        "junk",
    ],
    "time_created": "2026-11-28T09:30:00Z",
    "account_id": "acc_1",
}


def test_price_series_of_the_body_variant() -> None:
    series = PriceSeries.from_json(PRICE_BODY)
    assert series.unit == "GBP/kWh"
    assert (series.tariff_direction, series.device_id) == ("EXPORT", "dev_1")
    assert series.last_updated == NOW.replace(minute=0)
    assert series.next_update is None
    assert [(s.value, s.confidence, s.is_forecast) for s in series.slots] == [
        (0.2, 1.0, False),
        (0.15, 0.8, True),
    ]  # by start; the slots without a value or with no length are skipped
    assert series.skipped_slots == 4
    assert series.slot_at(NOW) == series.slots[0]
    assert series.slot_at(datetime(2026, 11, 29, 1, 0, tzinfo=UTC)) == series.slots[1]
    assert series.slot_at(datetime(2026, 11, 29, 2, 30, tzinfo=UTC)) is None


def test_price_series_of_the_path_variant() -> None:
    series = PriceSeries.from_json(
        {
            "id": "prs_1",
            "object": "price",
            "location_id": "loc_1",
            "request": {
                "start_time": "2026-11-28T09:00:00Z",
                "end_time": "2026-11-28T10:00:00Z",
                "tariff_direction": "IMPORT",
            },
            "next_update": "2026-11-28T23:00:00Z",
            "data": [
                {
                    "valid_from": "2026-11-28T09:00:00Z",
                    "valid_to": "2026-11-28T10:00:00Z",
                    "price": {"value": 4.998},
                }
            ],
        }
    )
    assert (series.tariff_direction, series.device_id, series.unit) == (
        "IMPORT",
        None,
        None,
    )
    assert series.next_update == datetime(2026, 11, 28, 23, tzinfo=UTC)
    assert series.slots[0].confidence is None
    assert series.slots[0].is_forecast is False
    with pytest.raises(TypeError):
        PriceSeries.from_json({"object": "price"})


def test_schedule_slots_and_minutes() -> None:
    schedule = Schedule.from_json(
        {
            "id": "std_1",
            "object": "schedule_duration",
            "currency_code": "GBP",
            "tariff_direction": "IMPORT",
            "data": [
                {
                    "start_time": "2026-11-29T04:00:00Z",
                    "end_time": "2026-11-29T04:30:00Z",
                    "price": {"value": 0.12, "confidence": 1},
                    "vpp_event": True,
                },
                {
                    "start_time": "2026-11-29T01:00:00Z",
                    "end_time": "2026-11-29T02:00:00Z",
                    "price": {"value": 0.1, "confidence": 0.6},
                },
                {
                    "start_time": "2026-11-29T05:00:00Z",
                    "end_time": "2026-11-29T06:00:00Z",
                    "price": {"value": None},
                    "vpp_event": True,
                },
            ],
        }
    )
    assert [s.start.hour for s in schedule.slots] == [1, 4]
    assert [s.vpp_event for s in schedule.slots] == [None, True]
    assert schedule.minutes == 90
    assert schedule.skipped_slots == 1
    assert schedule.unit == "GBP/kWh"
    assert schedule.slots[0].is_forecast


# --- the read endpoints against the sandbox ---------------------------------------


@pytest.fixture
def reads_at_now(sandbox: FlatpeakSandbox) -> FlatpeakSandbox:
    """The sandbox with its read endpoints' clock at NOW."""
    sandbox.reads.utcnow = lambda: NOW
    return sandbox


async def test_every_request_pins_the_api_version(
    client: FlatpeakClient,
    reads_at_now: FlatpeakSandbox,
    session: aiohttp.ClientSession,
) -> None:
    sandbox = reads_at_now
    await client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    device = await client.get_device(DEFAULT_DEVICE_ID)
    await client.get_device_state(DEFAULT_DEVICE_ID)
    await client.get_location(device.locations[0])
    await client.list_vpp_participations(DEFAULT_DEVICE_ID)
    await client.get_prices(
        device.locations[0], start=NOW, end=NOW + timedelta(hours=2)
    )
    await client.find_schedule_by_duration(
        device.locations[0],
        start=NOW,
        end=NOW + timedelta(hours=2),
        duration_minutes=30,
    )
    assert API_VERSION == "2026-08-01.busbar"
    assert [(r.endpoint, r.api_version) for r in sandbox.requests] == [
        (endpoint, API_VERSION)
        for endpoint in (
            "token",
            "state",
            "device",
            "state_read",
            "location",
            "vpp_participations",
            "prices",
            "schedules",
        )
    ]
    unpinned = FlatpeakClient(
        session,
        sandbox.account_id,
        sandbox.secret_key,
        base_url=sandbox.url,
        api_version=None,
    )
    await unpinned.submit_device_state(DEFAULT_DEVICE_ID, a_state())
    assert [r.api_version for r in sandbox.requests[-2:]] == [None, None]


@pytest.mark.parametrize("endpoint", ["state", "prices"])
async def test_refused_api_version_is_not_a_rejection(
    client: FlatpeakClient,
    reads_at_now: FlatpeakSandbox,
    endpoint: str,
) -> None:
    """An account newer than busbar refuses the pin: no record may be dropped for it."""
    reads_at_now.fail_next(422, endpoint=endpoint, code="api_version_not_supported")
    call = (
        client.submit_device_state(DEFAULT_DEVICE_ID, a_state())
        if endpoint == "state"
        else client.get_prices("loc_x", start=NOW, end=NOW + timedelta(hours=1))
    )
    with pytest.raises(FlatpeakApiVersionError) as err:
        await call
    assert not isinstance(err.value, FlatpeakValidationError)
    assert (err.value.status, err.value.code) == (422, "api_version_not_supported")


@pytest.mark.parametrize(
    ("direction", "power", "signed"),
    [
        (EnergyFlowDirection.IMPORT, 1.2, 1.2),  # into the battery: charging
        (EnergyFlowDirection.EXPORT, 2.5, -2.5),  # out of it: discharging
        (None, 0.7, 0.7),
    ],
)
async def test_device_state_read_back(
    client: FlatpeakClient,
    sandbox: FlatpeakSandbox,
    direction: EnergyFlowDirection | None,
    power: float,
    signed: float,
) -> None:
    with pytest.raises(FlatpeakNotFoundError) as err:
        await client.get_device_state(DEFAULT_DEVICE_ID)
    assert err.value.code == "device_state_not_found"
    sent = a_state(
        battery_power_kw=power,
        energy_flow_direction=direction,
        record_reference_id="ref-1",
        energy_remaining_kwh=6.5,
    )
    record = await client.submit_device_state(DEFAULT_DEVICE_ID, sent)
    reading = await client.get_device_state(DEFAULT_DEVICE_ID)
    assert reading.id == record.id
    assert reading.device_id == DEFAULT_DEVICE_ID
    assert reading.location_id == "loc_sandbox0000000000000001"
    assert reading.time == NOW
    assert reading.battery_power_kw == signed
    assert reading.state_of_charge_percent == 55.5
    assert reading.energy_remaining_kwh == 6.5
    assert reading.backup_reserve_percent is None  # not sent, so not held
    assert reading.record_reference_id == "ref-1"


async def test_location_and_tariff_controls(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    device = await client.get_device(DEFAULT_DEVICE_ID)
    assert device.locations == ("loc_sandbox0000000000000001",)
    location = await client.get_location(device.locations[0])
    assert (location.timezone, location.currency_code) == ("Europe/London", "GBP")
    assert location.devices == (DEFAULT_DEVICE_ID,)
    assert location.tariff_connected(TariffDirection.IMPORT) is True
    assert location.tariff_connected(TariffDirection.EXPORT) is True
    assert location.tariff_connected(TariffDirection.LOCAL) is False
    sandbox.reads.set_tariff("not_connected", "EXPORT")
    sandbox.reads.set_tariff("pending", "IMPORT")
    location = await client.get_location(device.locations[0])
    assert [(t.direction, t.status) for t in location.tariffs] == [
        ("IMPORT", "PENDING")
    ]
    assert location.tariff_connected("IMPORT") is False
    assert location.tariff_connected("EXPORT") is False
    with pytest.raises(FlatpeakNotFoundError):
        await client.get_location("loc_nowhere")


async def test_vpp_participations_follow_the_pages(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    vpp = sandbox.reads.vpp
    for _ in range(4):
        vpp.add_older(DEFAULT_DEVICE_ID)
    vpp.page_size = 2
    found = await client.list_vpp_participations(DEFAULT_DEVICE_ID)
    assert [p.current_state for p in found] == ["ACTIVE", *["UNENROLLED"] * 4]
    assert found[0].telemetry_active is True
    assert found[0].control_active is True
    assert found[0].programme_name == "Sandbox Saving Sessions"
    queries = [URL(r.raw_path).query for r in sandbox.requests_to("vpp_participations")]
    assert queries == [
        {"device_id": DEFAULT_DEVICE_ID},
        {"device_id": DEFAULT_DEVICE_ID, "starting_after": found[1].id},
        {"device_id": DEFAULT_DEVICE_ID, "starting_after": found[3].id},
    ]
    bounded = await client.list_vpp_participations(DEFAULT_DEVICE_ID, max_pages=2)
    assert bounded == found[:4]
    assert len(sandbox.requests_to("vpp_participations")) == 5


async def test_vpp_list_that_repeats_itself_stops(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    page = '{"object": "list", "has_more": true, "data": [{"id": "vpo_1"}, {"x": 1}]}'
    sandbox.fail_next(200, 5, endpoint="vpp_participations", body=page)
    found = await client.list_vpp_participations(DEFAULT_DEVICE_ID)
    assert [p.id for p in found] == ["vpo_1"]
    # The item without an id ends the page: no cursor, so no second request.
    assert len(sandbox.requests_to("vpp_participations")) == 1
    page = '{"object": "list", "has_more": true, "data": [{"id": "vpo_1"}]}'
    sandbox.clear_faults()
    sandbox.fail_next(200, 5, endpoint="vpp_participations", body=page)
    assert [p.id for p in await client.list_vpp_participations("dev_x")] == ["vpo_1"]
    assert len(sandbox.requests_to("vpp_participations")) == 3  # the cursor repeated


async def test_vpp_participation_controls(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    sandbox.reads.vpp.telemetry_active = False
    sandbox.reads.vpp.set_state("suspended", "CUSTOMER_REQUEST")
    (suspended,) = await client.list_vpp_participations(DEFAULT_DEVICE_ID)
    assert suspended.current_state == "SUSPENDED"
    assert suspended.suspension_reasons == ("CUSTOMER_REQUEST",)
    assert suspended.description == "Paused at your request."
    assert (suspended.control_active, suspended.telemetry_active) == (False, False)
    sandbox.reads.vpp.set_state("none")
    assert await client.list_vpp_participations(DEFAULT_DEVICE_ID) == ()


async def test_prices_for_a_location(
    client: FlatpeakClient, reads_at_now: FlatpeakSandbox
) -> None:
    prices = await client.get_prices(
        "loc_sandbox0000000000000001",
        start=NOW,
        end=NOW + timedelta(days=2),
        device_id=DEFAULT_DEVICE_ID,
        direction=TariffDirection.EXPORT,
    )
    assert reads_at_now.requests_to("prices")[0].body == {
        "location_id": "loc_sandbox0000000000000001",
        "device_id": DEFAULT_DEVICE_ID,
        "start_time": "2026-11-28T09:30:00Z",
        "end_time": "2026-11-30T09:30:00Z",
        "tariff_direction": "EXPORT",
    }
    assert (prices.unit, prices.tariff_direction, prices.device_id) == (
        "GBP/kWh",
        "EXPORT",
        DEFAULT_DEVICE_ID,
    )
    assert prices.location_timezone == "Europe/London"
    assert prices.last_updated == reads_at_now.reads.prices_updated
    assert prices.slots[0].start == NOW
    assert prices.slots[-1].end == NOW + timedelta(days=2)
    assert all(a.end == b.start for a, b in itertools.pairwise(prices.slots))
    horizon = NOW + timedelta(hours=24)
    assert all(not s.is_forecast for s in prices.slots if s.start < horizon)
    assert all(s.is_forecast for s in prices.slots if s.start >= horizon)
    assert all(0 < s.value < 1 for s in prices.slots)  # GBP, not pence


@pytest.mark.parametrize(
    ("tariff", "code"),
    [
        ("not_connected", "no_tariff_connected"),
        ("pending", "pending_connect"),
        ("no_price_data", "no_price_data"),
    ],
)
async def test_price_unavailable_is_its_own_outcome(
    client: FlatpeakClient, sandbox: FlatpeakSandbox, tariff: str, code: str
) -> None:
    sandbox.reads.set_tariff(tariff, "IMPORT")
    location = "loc_sandbox0000000000000001"
    with pytest.raises(FlatpeakPriceUnavailableError) as err:
        await client.get_prices(location, start=NOW, end=NOW + timedelta(hours=1))
    assert not isinstance(err.value, FlatpeakValidationError)
    assert (err.value.status, err.value.code) == (422, code)
    assert err.value.retry_after == PRICE_RETRY_INTERVAL == 900
    with pytest.raises(FlatpeakPriceUnavailableError):
        await client.find_schedule_by_duration(
            location, start=NOW, end=NOW + timedelta(hours=1), duration_minutes=30
        )
    # Export is still connected, and a 422 never sends the client to the path.
    await client.get_prices(
        location, start=NOW, end=NOW + timedelta(hours=1), direction="EXPORT"
    )
    assert [r.raw_path for r in sandbox.requests_to("prices")] == ["/prices"] * 2


async def test_other_422_on_a_read_is_a_refused_request(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    sandbox.add_device("dev_demo1", **DEMO_DEVICES["dev_demo1"])
    with pytest.raises(FlatpeakValidationError) as err:
        await client.get_prices(
            "loc_sandbox0000000000000001",
            start=NOW,
            end=NOW + timedelta(hours=1),
            device_id="dev_demo1",  # at another location
        )
    assert err.value.code == "device_location_mismatch"


@pytest.mark.parametrize("status", [404, 405])
async def test_prices_fall_back_to_the_path_variant_and_remember(
    client: FlatpeakClient, reads_at_now: FlatpeakSandbox, status: int
) -> None:
    sandbox = reads_at_now
    if status == 404:
        sandbox.reads.price_routes = {"path"}
    else:
        sandbox.fail_next(405, endpoint="prices")
    location = "loc_sandbox0000000000000001"
    first = await client.get_prices(
        location, start=NOW, end=NOW + timedelta(hours=3), device_id=DEFAULT_DEVICE_ID
    )
    again = await client.get_prices(location, start=NOW, end=NOW + timedelta(hours=3))
    requests = sandbox.requests_to("prices")
    assert [(r.raw_path, r.status) for r in requests] == [
        ("/prices", status),
        (f"/prices/{location}", 200),
        (f"/prices/{location}", 200),
    ]
    # The path variant takes neither the location nor the device in its body.
    assert requests[1].body == {
        "start_time": "2026-11-28T09:30:00Z",
        "end_time": "2026-11-28T12:30:00Z",
        "tariff_direction": "IMPORT",
    }
    assert first.slots == again.slots
    assert first.tariff_direction == "IMPORT"  # read from the echoed request
    assert first.device_id is None


async def test_prices_remember_the_body_variant(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    location = "loc_sandbox0000000000000001"
    await client.get_prices(location, start=NOW, end=NOW + timedelta(hours=1))
    sandbox.fail_next(404, endpoint="prices", code="not_found")
    with pytest.raises(FlatpeakNotFoundError):
        await client.get_prices(location, start=NOW, end=NOW + timedelta(hours=1))
    assert [r.raw_path for r in sandbox.requests_to("prices")] == ["/prices"] * 2


async def test_prices_when_neither_variant_knows_the_location(
    client: FlatpeakClient, sandbox: FlatpeakSandbox
) -> None:
    with pytest.raises(FlatpeakNotFoundError):
        await client.get_prices("loc_gone", start=NOW, end=NOW + timedelta(hours=1))
    assert [r.raw_path for r in sandbox.requests_to("prices")] == [
        "/prices",
        "/prices/loc_gone",
    ]


@pytest.mark.parametrize(
    ("segment", "window"),
    [
        # The night rate of Sunday and the peak of Saturday (London is UTC in
        # November); ties go to the earlier half hours.
        (ScheduleSegment.LOW, ("2026-11-29T00:00:00Z", "2026-11-29T02:30:00Z")),
        (ScheduleSegment.HIGH, ("2026-11-28T16:00:00Z", "2026-11-28T18:30:00Z")),
    ],
)
async def test_schedule_by_duration(
    client: FlatpeakClient,
    reads_at_now: FlatpeakSandbox,
    segment: ScheduleSegment,
    window: tuple[str, str],
) -> None:
    for device_id in ("dev_demo1", "dev_demo2"):  # one home, one set of prices
        reads_at_now.add_device(device_id, **DEMO_DEVICES[device_id])
    schedule = await client.find_schedule_by_duration(
        "loc_demo_home",
        start=NOW,
        end=NOW + timedelta(days=1),
        duration_minutes=150,
        segment=segment,
        device_id="dev_demo2",
    )
    assert reads_at_now.requests_to("schedules")[0].body == {
        "location_id": "loc_demo_home",
        "start_time": "2026-11-28T09:30:00Z",
        "end_time": "2026-11-29T09:30:00Z",
        "segment": segment.value,
        "duration": 150,
        "tariff_direction": "IMPORT",
        "device_id": "dev_demo2",
    }
    assert schedule.minutes == 150
    assert schedule.device_id == "dev_demo2"
    assert schedule.unit == "GBP/kWh"
    assert [(format_time(s.start), format_time(s.end)) for s in schedule.slots] == [
        window
    ]
    assert all(s.vpp_event is False for s in schedule.slots)


@pytest.mark.parametrize(
    "call",
    [
        {"end": NOW - timedelta(minutes=1)},
        {"end": NOW},
        {"end": NOW + timedelta(days=90, seconds=1)},
        {"location_id": ""},
        {"device_id": ""},
        {"direction": "SIDEWAYS"},
        {"start": datetime(2026, 11, 28, 9, 30)},  # naive
    ],
)
async def test_price_arguments_refused_before_sending(
    client: FlatpeakClient, sandbox: FlatpeakSandbox, call: dict[str, object]
) -> None:
    arguments: dict[str, object] = {
        "location_id": "loc_1",
        "start": NOW,
        "end": NOW + timedelta(hours=1),
        **call,
    }
    with pytest.raises((ValueError, TypeError)):
        await client.get_prices(**arguments)  # type: ignore[arg-type]
    assert sandbox.requests == []


@pytest.mark.parametrize(
    "call",
    [
        {"end": NOW + timedelta(days=3, minutes=1)},
        {"duration_minutes": 0},
        {"duration_minutes": 61},
        {"duration_minutes": True},
        {"duration_minutes": 30.0},
        {"segment": "MEDIUM"},
    ],
)
async def test_schedule_arguments_refused_before_sending(
    client: FlatpeakClient, sandbox: FlatpeakSandbox, call: dict[str, object]
) -> None:
    arguments: dict[str, object] = {
        "location_id": "loc_1",
        "start": NOW,
        "end": NOW + timedelta(hours=1),
        "duration_minutes": 30,
        **call,
    }
    with pytest.raises(ValueError):
        await client.find_schedule_by_duration(**arguments)  # type: ignore[arg-type]
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        ("state_read", '{"id": "dsr_1"}'),
        ("location", "[]"),
        ("vpp_participations", '{"object": "list"}'),
        ("prices", '{"object": "price", "data": {}}'),
        ("schedules", "null"),
    ],
)
async def test_unreadable_read_answers(
    client: FlatpeakClient, sandbox: FlatpeakSandbox, endpoint: str, body: str
) -> None:
    sandbox.fail_next(200, endpoint=endpoint, body=body)
    calls = {
        "state_read": lambda: client.get_device_state(DEFAULT_DEVICE_ID),
        "location": lambda: client.get_location("loc_1"),
        "vpp_participations": lambda: client.list_vpp_participations("dev_1"),
        "prices": lambda: client.get_prices(
            "loc_1", start=NOW, end=NOW + timedelta(hours=1)
        ),
        "schedules": lambda: client.find_schedule_by_duration(
            "loc_1", start=NOW, end=NOW + timedelta(hours=1), duration_minutes=30
        ),
    }
    with pytest.raises(FlatpeakResponseError):
        await calls[endpoint]()
