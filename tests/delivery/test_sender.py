"""The sender: the error taxonomy, a loop that never dies, and recovery speed."""

import asyncio
from collections.abc import Callable
from datetime import timedelta
from types import SimpleNamespace
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flatpeak.api import (
    DeviceState,
    FlatpeakApiUrlError,
    FlatpeakAuthenticationError,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakRateLimitError,
    FlatpeakServerError,
    FlatpeakTimeoutError,
    FlatpeakValidationError,
)
from custom_components.flatpeak.const import DOMAIN, ErrorCode, SubmissionStatus
from custom_components.flatpeak.delivery import retry
from custom_components.flatpeak.delivery.errors import (
    OUTCOMES,
    QUEUED_UNTIL_FIXED,
    Action,
    classify,
)
from custom_components.flatpeak.delivery.recheck import Recheck, RecheckPlan
from custom_components.flatpeak.delivery.retry import Pace, backlog_delay, backoff_delay
from custom_components.flatpeak.delivery.sender import SenderState
from flatpeak_sandbox import FlatpeakSandbox

from ..conftest import (
    RandomSource,
    advance,
    drain,
    entity_id,
    runtime_of,
    set_soc,
    settle,
    shown,
    state_of,
)

pytestmark = pytest.mark.usefixtures("at_start")


@pytest.mark.parametrize(
    ("err", "action", "code", "status"),
    [
        (
            FlatpeakValidationError("bad", status=422),
            Action.REJECT,
            "rejected",
            "invalid_data",
        ),
        (
            FlatpeakAuthenticationError("no", status=401),
            Action.PAUSE,
            "auth_failed",
            "auth_failed",
        ),
        (
            FlatpeakApiUrlError("404", status=404),
            Action.PAUSE,
            "wrong_api_url",
            "wrong_api_url",
        ),
        (
            FlatpeakNotFoundError("gone", status=404),
            Action.PAUSE,
            "device_not_found",
            "error",
        ),
        (
            FlatpeakRateLimitError("slow", status=429),
            Action.RETRY,
            "rate_limited",
            "rate_limited",
        ),
        (
            FlatpeakServerError("down", status=503),
            Action.RETRY,
            "server_error",
            "error",
        ),
        (FlatpeakTimeoutError("slow"), Action.RETRY, "timeout", "error"),
        (FlatpeakConnectionError("refused"), Action.RETRY, "cannot_connect", "error"),
        (
            FlatpeakError("409", status=409),
            Action.RETRY,
            "unexpected_response",
            "error",
        ),
        (
            UnicodeDecodeError("utf-8", b"\xe9", 0, 1, "x"),
            Action.RETRY,
            "unexpected_response",
            "error",
        ),
    ],
)
def test_taxonomy(err: Exception, action: Action, code: str, status: str) -> None:
    verdict = classify(err)
    assert (verdict.action, verdict.code, verdict.status) == (
        action,
        ErrorCode(code),
        SubmissionStatus(status),
    )
    # Flatpeak's words only when it answered; never a class name.
    if getattr(err, "status", None) is None:
        assert verdict.message is None


def test_every_pause_says_what_to_fix() -> None:
    """A record queued during a pause is answered with the fix it waits for."""
    pauses = {outcome[2] for outcome in OUTCOMES if outcome[1] is Action.PAUSE}
    assert pauses == set(QUEUED_UNTIL_FIXED)


def test_retry_after_capped() -> None:
    verdict = classify(FlatpeakServerError("x", status=503, retry_after=86_400.0))
    assert verdict.retry_after == 3600


def test_pace_halves_on_429_and_recovers_within_a_minute() -> None:
    pace = Pace()
    assert pace.gap == 0
    for _ in range(5):  # five 429 in a row: 4, 2, 1, 0.5, 0.25 records/s
        pace.rate_limited()
    assert pace.gap == 4
    elapsed, records = 0.0, 0
    while gap := pace.accepted():
        elapsed += gap
        records += 1
    # Back to back again after about 20 s of accepted records, not hours.
    assert elapsed < 30
    assert records > 20
    for _ in range(100):
        pace.rate_limited()
    assert pace.gap == 10  # never below 0.1 record/s


@pytest.mark.parametrize("failures", [0, 1, 10, 1025, 10**6])
def test_backoff_never_overflows(failures: int) -> None:
    assert 0 < backoff_delay(failures) <= 600


@pytest.mark.parametrize("jitter", ["low", "high"])
def test_backoff_has_a_floor_and_a_ceiling(
    monkeypatch: pytest.MonkeyPatch, jitter: str
) -> None:
    """The first step is 5-10 s: no jitter draws a wait under 5 s or over 10 min."""
    pick = (lambda low, _high: low) if jitter == "low" else (lambda _low, high: high)
    monkeypatch.setattr(retry, "random", SimpleNamespace(uniform=pick))
    waits = [backoff_delay(failures) for failures in range(1, 20)]
    assert waits == sorted(waits)
    if jitter == "low":
        assert waits[:3] == [5.0, 10.0, 20.0]
        assert waits[-1] == 300.0
    else:
        assert waits[:3] == [10.0, 20.0, 40.0]
        assert waits[-1] == 600.0


@pytest.mark.parametrize(
    ("err", "expected"),
    [
        (FlatpeakServerError("x", status=503, retry_after=0.0), 1.0),
        (FlatpeakRateLimitError("x", status=429, retry_after=0.0), 1.0),
        (FlatpeakRateLimitError("x", status=429, retry_after=0.2), 1.0),
        (FlatpeakServerError("x", status=503, retry_after=30.0), 30.0),
        (FlatpeakServerError("x", status=503), None),
    ],
)
def test_retry_after_has_a_floor(err: Exception, expected: float | None) -> None:
    assert classify(err).retry_after == expected


async def test_loop_survives_an_unreadable_answer(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    # A Retry-After of "²" once broke the client and killed delivery.
    sandbox.fail_next(503, endpoint="state", retry_after="\u00b2")
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert state_of(hass, "last_error") in ("server_error", "unexpected_response")
    assert state_of(hass, "queued_records") == "1"
    await advance(hass, freezer, 10)  # the first backoff is at most 10 s
    # Delivered once the wait ended (with the heartbeats taken meanwhile).
    assert sandbox.states()[0]["state_of_charge_percent"] == 61
    assert state_of(hass, "submission_status") == "ok"


async def test_retry_after_of_a_day_waits_an_hour(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    sandbox.fail_next(503, endpoint="state", retry_after="86400")
    set_soc(hass, 62)
    await advance(hass, freezer, 1)
    await advance(hass, freezer, 3590)
    assert sandbox.states() == []
    await advance(hass, freezer, 20)
    assert [b["state_of_charge_percent"] for b in sandbox.states()][:1] == [62]


async def test_backlog_back_to_back_with_entities_throttled(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    random_source: RandomSource,
) -> None:
    await sandbox.stop()
    for value in range(40):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    queued = len(runtime_of(init_integration).outbox)
    assert queued >= 40
    await shown(hass, freezer)
    assert state_of(hass, "queued_records") == str(queued)
    writes: list[str] = []

    @callback
    def count(event: Event[EventStateChangedData]) -> None:
        if (new := event.data["new_state"]) is not None:
            writes.append(new.state)

    async_track_state_change_event(hass, entity_id(hass, "queued_records"), count)
    await sandbox.start()
    # The backoff ends; the whole backlog goes back to back, with no clock
    # time passing between records.
    await advance(hass, freezer, 600)
    assert len(sandbox.states()) >= queued  # and a heartbeat meanwhile
    await shown(hass, freezer)
    assert state_of(hass, "queued_records") == "0"
    # The entities were updated at most once a second, not once per record
    # (40): at the drain's start and at the end of its second.
    assert len(writes) <= 2, writes
    assert writes[-1] == "0"


async def test_slower_after_429(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    random_source: RandomSource,
) -> None:
    await sandbox.stop()
    for value in range(10):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    await sandbox.start()
    sandbox.fail_next(429, endpoint="state", retry_after="15")
    await advance(hass, freezer, 600)
    assert sandbox.states() == []
    # Exactly the Retry-After, then one record and a pause before the next.
    await advance(hass, freezer, 14)
    assert sandbox.states() == []
    await advance(hass, freezer, 1)
    assert len(sandbox.states()) == 1
    assert state_of(hass, "queued_records") != "0"
    for _ in range(40):
        await advance(hass, freezer, 0.25)
    assert state_of(hass, "queued_records") == "0"
    await settle(hass)


async def test_update_entity_keeps_the_entities_available(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, "homeassistant", {})
    await hass.services.async_call(
        "homeassistant",
        "update_entity",
        {"entity_id": entity_id(hass, "submission_status")},
        blocking=True,
    )
    await settle(hass)
    assert state_of(hass, "submission_status") == "ok"


async def test_wrong_api_url_pauses_with_its_own_status(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The client raises this when the token endpoint answers 404 (an URL that
    # answers, but is not Flatpeak's API); the sandbox cannot be that URL.
    calls = {"put": 0, "token": 0}

    async def not_flatpeak(*_args: object) -> None:
        calls["put" if _args else "token"] += 1
        raise FlatpeakApiUrlError("Not Found", status=404)

    client = init_integration.runtime_data.client
    monkeypatch.setattr(client, "submit_device_state", not_flatpeak)
    monkeypatch.setattr(client, "authenticate", not_flatpeak)
    set_soc(hass, 63)
    await advance(hass, freezer, 1)
    assert state_of(hass, "submission_status") == "wrong_api_url"
    assert state_of(hass, "last_error") == "wrong_api_url"
    assert state_of(hass, "api_connection", "binary_sensor") == "off"
    # Paused: records queue, no PUT; only a token is asked for again, after
    # 1, 2, 4, 8 and 16 minutes (the next one after 32).
    set_soc(hass, 64)
    for _ in range(60):
        await advance(hass, freezer, 60)
    assert calls == {"put": 1, "token": 5}
    assert int(state_of(hass, "queued_records")) >= 2
    assert state_of(hass, "submission_status") == "wrong_api_url"


@pytest.mark.parametrize("answer", ["passes", "fails"])
async def test_recheck_cancelled_mid_check_does_nothing(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, answer: str
) -> None:
    """A check in flight at unload neither resumes nor arms another timer."""
    entry = MockConfigEntry(domain=DOMAIN)
    entry.add_to_hass(hass)
    reply: asyncio.Future[None] = hass.loop.create_future()
    checks: list[str] = []

    async def probe() -> None:
        checks.append("check")
        await reply

    outcomes: list[object] = []
    recheck = Recheck(
        hass,
        entry,
        RecheckPlan(60, 60),
        probe,
        lambda: outcomes.append("passed"),
        outcomes.append,
    )
    recheck.start()
    freezer.tick(60)
    async_fire_time_changed(hass)
    for _ in range(5):
        await asyncio.sleep(0)
    assert checks == ["check"]
    recheck.cancel()
    if answer == "passes":
        reply.set_result(None)
    else:
        reply.set_exception(FlatpeakConnectionError("refused"))
    await advance(hass, freezer, 3600)
    assert outcomes == []
    assert checks == ["check"]


async def test_the_current_state_first_then_the_backlog_then_the_current_again(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    random_source: RandomSource,
) -> None:
    """Fails on 0.2.0: the backlog went oldest first, the newest state last."""
    random_source.fraction = 1.0  # the longest backlog delay
    await sandbox.stop()
    for value in range(40):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    outbox = runtime_of(init_integration).outbox
    queued = [state.to_json() for state in outbox]
    await sandbox.start()
    await advance(hass, freezer, 600)  # the backoff ends: Flatpeak answers
    # The current state at once: the newest record (and a heartbeat taken
    # since, a newer current state), none of the backlog.
    current = sandbox.states()
    assert current[0]["time"] >= queued[-1]["time"]
    assert not [b for b in current if b in queued[:-1]]
    assert (0, 30) in random_source.ranges  # the backlog's delay
    # A snapshot taken meanwhile (the action: no minimum gap) goes at once
    # too, ahead of the backlog.
    set_soc(hass, 99)
    await settle(hass)  # the change is seen: the action supersedes it
    await hass.services.async_call(DOMAIN, "submit_device_state", {}, blocking=True)
    await advance(hass, freezer, 1)
    sent = len(current) + 1
    assert [b["state_of_charge_percent"] for b in sandbox.states()][sent - 1 :] == [99]
    await advance(hass, freezer, 28)
    assert len(sandbox.states()) == sent  # the backlog waits 30 s
    await advance(hass, freezer, 1)
    bodies = sandbox.states()
    backlog = [b for b in queued if b not in current]
    assert bodies[sent : sent + len(backlog)] == backlog  # oldest first
    # The drain ends with the current state: a fresh snapshot of it.
    assert len(bodies) == sent + len(backlog) + 1
    assert bodies[-1]["state_of_charge_percent"] == 99
    assert bodies[-1]["time"] == max(b["time"] for b in bodies)
    refs = [b["record_reference_id"] for b in bodies]
    assert len(set(refs)) == len(refs)
    assert sandbox.duplicates == 0
    await shown(hass, freezer)
    assert state_of(hass, "queued_records") == "0"


def refuse(sandbox: FlatpeakSandbox, refused: Callable[[int, Any], bool]) -> None:
    """Answer 422 to the state requests ``refused(n, body)`` picks (n from 1)."""
    real_handler = sandbox._handle_state
    answered = 0

    async def handle(request: Any) -> Any:
        nonlocal answered
        answered += 1
        if refused(answered, request["json"]):
            return sandbox._error(422, "invalid_state", "refused")
        return await real_handler(request)

    sandbox._handle_state = handle  # type: ignore[method-assign]


async def outage_of_four_records(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Start (55 is sent), then queue 58, 59, 60 and 61 while Flatpeak is down."""
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await advance(hass, freezer, 1)
    await sandbox.stop()
    for soc in (58, 59, 60, 61):
        set_soc(hass, soc)
        await advance(hass, freezer, 31)


@pytest.mark.usefixtures("battery", "random_source")
async def test_a_drain_whose_last_record_is_refused_ends_with_the_current_state(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Flatpeak refuses (422) the backlog's last record.

    The current state (61) went first, the backlog (58, 59, 60) follows. The
    refusal empties the outbox: the drain closes with a fresh snapshot of the
    current state (it used to stay open, Flatpeak's last record 59, until the
    next change or heartbeat).
    """
    await outage_of_four_records(hass, config_entry, sandbox, freezer)
    refuse(sandbox, lambda _n, body: body["state_of_charge_percent"] == 60)
    await sandbox.start()
    for _ in range(120):  # the backoff, then the backlog's delay
        await advance(hass, freezer, 1)
    assert not runtime_of(config_entry).outbox
    socs = [b["state_of_charge_percent"] for b in sandbox.states()]
    assert socs == [55, 61, 58, 59, 61]


@pytest.mark.usefixtures("battery", "random_source")
async def test_a_refused_closing_snapshot_is_not_taken_again(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Flatpeak refuses the backlog's last record and the closing snapshot.

    A fresh snapshot of the same values would be refused again: the drain
    ends as it is, no loop of snapshots sent back to back.
    """
    await outage_of_four_records(hass, config_entry, sandbox, freezer)
    requests: list[float] = []

    def fourth_and_later(n: int, body: Any) -> bool:
        requests.append(body["state_of_charge_percent"])
        return 4 <= n < 50  # 60, the closing 61 (and, in a loop, more)

    refuse(sandbox, fourth_and_later)
    await sandbox.start()
    for _ in range(120):
        await advance(hass, freezer, 1)
    assert not runtime_of(config_entry).outbox
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [55, 61, 58, 59]
    assert requests == [61, 58, 59, 60, 61]
    assert runtime_of(config_entry).outbox.rejected == 2


async def test_the_backlog_delay_is_random_within_30_s(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    delays = {backlog_delay() for _ in range(1000)}
    assert min(delays) >= 0
    assert max(delays) <= 30
    assert len(delays) > 900
    await sandbox.stop()
    for value in range(3):
        set_soc(hass, 40 + value)
        await advance(hass, freezer, 31)
    await sandbox.start()
    await advance(hass, freezer, 600)
    current = len(sandbox.states())  # the current state (and a heartbeat)
    waited = 0.0
    while len(sandbox.states()) == current:
        await advance(hass, freezer, 0.5)
        waited += 0.5
    assert waited <= 30.5
    await drain(hass, freezer, init_integration)
    bodies = sandbox.states()
    socs = [b["state_of_charge_percent"] for b in bodies]
    # The backlog oldest first. Whether the retry or the 10:05 heartbeat came
    # first (the backoff's jitter is real here), what follows is 42 only: the
    # rest of the backlog, or the fresh snapshot that closes the drain.
    assert socs[current : current + 2] == [40, 41]
    assert set(socs[current + 2 :]) <= {42}
    times = [b["time"] for b in bodies[current : current + 2]]
    assert times == sorted(times)
    assert sandbox.duplicates == 0


@pytest.mark.usefixtures("random_source")
async def test_a_drain_ending_in_the_second_of_the_current_state_sends_it_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The current state went first; the backlog drains within the same second.

    The snapshot that would close the drain is the current state again, the
    same time and values: the same record (its ``record_reference_id``), which
    Flatpeak has. It is not queued a second time (found by ``scripts/fuzz``).
    """
    await sandbox.stop()
    for soc in (58, 59):
        set_soc(hass, soc)
        await advance(hass, freezer, 31)
    await sandbox.start()
    # The action: the current state at once, then the backlog (no delay).
    await hass.services.async_call(DOMAIN, "submit_device_state", {}, blocking=True)
    await settle(hass)
    bodies = sandbox.states()
    refs = [b["record_reference_id"] for b in bodies]
    assert len(refs) == len(set(refs)), "a record was sent twice"
    assert sandbox.duplicates == 0
    assert [b["state_of_charge_percent"] for b in bodies] == [59, 58, 59]
    assert not runtime_of(init_integration).outbox


@pytest.mark.usefixtures("at_start")
async def test_a_change_in_the_second_of_a_heartbeat_with_its_values_is_not_sent_twice(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The heartbeat runs; in the same instant the state of charge entity is
    written again with the same value (an attribute changes). The change's
    snapshot, after the minimum gap, has the heartbeat's time and values: the
    same record (its ``record_reference_id``), which is not queued again
    (found by ``scripts/fuzz``).
    """
    await advance(hass, freezer, 290)  # the heartbeat's boundary
    assert len(sandbox.states()) == 1
    soc = hass.states.get("sensor.battery_soc")
    assert soc is not None
    hass.states.async_set(soc.entity_id, soc.state, {**soc.attributes, "note": 1})
    await advance(hass, freezer, 31)
    refs = [b["record_reference_id"] for b in sandbox.states()]
    assert len(refs) == len(set(refs)), "a record was sent twice"
    assert sandbox.duplicates == 0
    assert len(refs) == 1


@pytest.mark.usefixtures("at_start")
async def test_a_request_in_flight_at_stop_arms_no_timer(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Home Assistant stops while a request is in flight: when it fails, the
    stopped sender neither waits nor sends again."""
    runtime = runtime_of(init_integration)
    gate = asyncio.Event()

    async def answer_after_the_stop(_device_id: str, _state: DeviceState) -> Any:
        await gate.wait()
        raise FlatpeakServerError("down", status=503)

    with patch.object(runtime.client, "submit_device_state", answer_after_the_stop):
        set_soc(hass, 61)
        # Not ``advance``: it would wait for the delivery the gate holds.
        for _ in range(40):
            freezer.tick(timedelta(seconds=1))
            async_fire_time_changed(hass)
            await hass.async_block_till_done()
            if runtime.sender.state is SenderState.SENDING:
                break
        assert runtime.sender.state is SenderState.SENDING
        runtime.sender.stop()
        gate.set()
        await hass.async_block_till_done()
    assert runtime.sender.state is SenderState.PAUSED
    assert runtime.sender._timer is None
    assert len(runtime.outbox) == 1  # kept for the next start


@pytest.mark.usefixtures("at_start")
async def test_a_resume_keeps_the_rest_of_flatpeaks_retry_after(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The device waits out a 429 asking for 10 minutes; meanwhile another
    device of the account meets refused credentials (every device pauses),
    and a minute later a check gets a token (every device resumes). The
    resume does not end the wait Flatpeak asked for."""
    sandbox.fail_next(429, endpoint="state", retry_after="600")
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert len(sandbox.requests_to("state")) == 1
    account = init_integration.runtime_data
    account.credentials_refused(
        classify(FlatpeakAuthenticationError("refused", status=401))
    )
    await advance(hass, freezer, 60)
    account.credentials_work()
    for _ in range(50):  # until 9 min 21 s after the 429
        await advance(hass, freezer, 10)
    assert len(sandbox.requests_to("state")) == 1, "sent before the Retry-After ended"
    for _ in range(6):
        await advance(hass, freezer, 10)
    # Delivered once the wait ended (with the heartbeats taken meanwhile).
    assert sandbox.states()[0]["state_of_charge_percent"] == 61
