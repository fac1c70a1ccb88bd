"""Tools of the fuzzers (tests/fuzz_delivery.py, tests/fuzz_power_cuts.py; scripts/fuzz).

- ``FuzzSandbox``: the sandbox, answering each request as a ``decide``
  function says: its real answer, any status with any body and headers,
  after a delay of simulated time, after storing the record or not, with the
  connection dropped before the answer or reset in the middle of its body.
  It logs every exchange with the wall-clock second it was answered in.
- ``Driver``: moves the frozen clock and lets everything due run, also while
  answers are held back (``settle`` would wait for them forever: its wait is
  on the frozen clock too).
- ``Ledger``: every record queued (``Outbox.append``) and dropped, checked
  against an independent reading of the mapped entities (``expected``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
import json
import math
import time
from typing import Any

from aiohttp import web
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    ATTR_UNIT_OF_MEASUREMENT,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant
from homeassistant.util.unit_conversion import EnergyConverter, PowerConverter
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.flatpeak.api import DeviceState
from custom_components.flatpeak.const import (
    CONF_POWER_SIGN,
    CONF_RESERVE_ENTITY,
    CONF_RESERVE_PERCENT,
    CONF_TARGET_SOC_ENTITY,
    CONF_TARGET_SOC_PERCENT,
)
from custom_components.flatpeak.delivery.outbox import Outbox
from custom_components.flatpeak.mapping.batteries import (
    CONF_CAPACITY,
    batteries_from_options,
)
from flatpeak_sandbox import FlatpeakSandbox
from flatpeak_sandbox.server import RequestRecord

# --- the sandbox -------------------------------------------------------------------


@dataclass(slots=True)
class Answer:
    """How the sandbox answers one request."""

    kind: str = "ok"  # a name for the statistics
    status: int = 200
    body: bytes | None = None  # None: the sandbox's error envelope
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # simulated seconds before answering
    store: bool = False  # handle the request for real first (a PUT is stored)
    real: bool = False  # give the sandbox's real answer
    drop: bool = False  # close the connection without an answer
    cut: int | None = None  # send the headers and this many body bytes, then reset


@dataclass(slots=True)
class Exchange:
    """One request and what the sandbox did with it."""

    at: float  # wall clock (time.time(), frozen) when answered
    received: float  # when the request arrived
    endpoint: str
    kind: str
    status: int  # -1: no answer
    ref: str | None  # the PUT's record_reference_id
    stored: bool  # the PUT's record is at the sandbox now
    clean_ok: bool  # a complete 2xx answer: the client knows it was accepted
    retry_after: str | None = None
    date: str | None = None
    produced: int = 0  # records queued when the request arrived (the ledger's)
    origin: str = ""  # who sent it: the client's task (``fuzz-origin`` in the UA)
    call: str = ""  # the client's call that sent it (``fuzz-call``)
    seq_in: int = 0  # the order of arrivals and answers (the clock is frozen:
    seq_out: int = 0  # many happen in one instant)


type Decide = Callable[[str, Any], Answer]


class FuzzSandbox(FlatpeakSandbox):
    """The sandbox, answering as ``decide(endpoint, body)`` says."""

    def __init__(self, decide: Decide, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.decide = decide
        self.exchanges: list[Exchange] = []
        self.in_flight = 0
        self.held = 0  # requests sleeping out their delay
        self.invalid_bodies: list[Any] = []  # refused by the sandbox's own checks
        self.produced: Callable[[], int] = lambda: 0  # the ledger's count
        self.seq = 0  # counts arrivals and answers, in order

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        endpoint = self._endpoint(request)
        if endpoint == "control":
            response: web.StreamResponse = await handler(request)
            return response
        self.in_flight += 1
        try:
            return await self._answer(request, handler, endpoint)
        finally:
            self.in_flight -= 1

    async def _answer(  # noqa: C901 - one branch per kind of answer
        self,
        request: web.Request,
        handler: Callable[[web.Request], Any],
        endpoint: str,
    ) -> web.StreamResponse:
        body: Any = None
        if request.can_read_body:
            raw = await request.read()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode(errors="replace")
        received = time.time()
        self.seq += 1
        seq_in = self.seq
        produced = self.produced()
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
        answer = (
            Answer("outage", drop=True) if self.outage else self.decide(endpoint, body)
        )
        if answer.delay:
            self.held += 1
            try:
                await asyncio.sleep(answer.delay)
            finally:
                self.held -= 1
        ref = body.get("record_reference_id") if isinstance(body, dict) else None
        real: web.Response | None = None
        if answer.store or answer.real:
            request["json"] = body
            real = await handler(request)
            if endpoint == "state" and real.status in (400, 422):
                self.invalid_bodies.append((body, real.text))
            if not 200 <= real.status < 300:
                answer = Answer(answer.kind, real=True)  # a token refused: say so
        stored = ref is not None and any(key[1] == ref for key in self._by_reference)
        exchange = Exchange(
            time.time(), received, endpoint, answer.kind, -1, ref, stored, False
        )
        exchange.produced = produced
        agent = request.headers.get("User-Agent") or ""
        exchange.origin = agent.partition(" fuzz-origin/")[2]
        exchange.call = agent.partition(" fuzz-call/")[2].partition(" ")[0]
        self.seq += 1
        exchange.seq_in, exchange.seq_out = seq_in, self.seq
        # The client gives up after 30 s: a later answer is not known to it.
        in_time = answer.delay < 29.5
        self.exchanges.append(exchange)
        if answer.drop:
            record.status = -1
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)
        if answer.real:
            assert real is not None
            record.status = exchange.status = real.status
            if answer.cut is None:
                exchange.clean_ok = in_time and 200 <= real.status < 300
                return real
            status, payload = real.status, real.body
            headers = {"Content-Type": "application/json"}
        else:
            status = answer.status
            headers = {"Content-Type": "application/json", **answer.headers}
            payload = answer.body
            if payload is None:
                payload = self._error(status, "injected_fault", "Fault").body
        record.status = exchange.status = status
        exchange.retry_after = headers.get("Retry-After")
        exchange.date = headers.get("Date")
        data = payload if isinstance(payload, bytes) else b""
        if answer.cut is None:
            exchange.clean_ok = in_time and 200 <= status < 300 and stored
            return web.Response(status=status, body=data, headers=headers)
        # Reset in the middle of the body: the client has the status line.
        streamed = web.StreamResponse(
            status=status,
            headers={**headers, "Content-Length": str(len(data) + 10)},
        )
        await streamed.prepare(request)
        await streamed.write(data[: answer.cut])
        if request.transport is not None:
            request.transport.abort()
        return streamed


# --- the clock ---------------------------------------------------------------------


class Driver:
    """Moves the frozen clock; lets requests, timers and jobs run until quiet."""

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        sandbox: FuzzSandbox,
    ) -> None:
        self.hass = hass
        self.freezer = freezer
        self.sandbox = sandbox
        self.tasks: set[asyncio.Task[Any]] = set()  # actions, reloads: untracked

    def spawn(self, coro: Any) -> asyncio.Task[Any]:
        """Run ``coro`` beside the clock (``async_block_till_done`` ignores it)."""
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def step(self, seconds: float) -> None:
        """Let ``seconds`` pass; fire what became due; run until quiet."""
        await self.quiet()
        self.freezer.tick(timedelta(seconds=seconds))
        async_fire_time_changed(self.hass)
        await self.quiet()

    async def quiet(self) -> None:
        """Run until nothing moves but answers held back on the clock.

        Not ``async_block_till_done``: it waits for every tracked task, and a
        button press is one; it waits for an answer held on the frozen clock.
        Executor jobs (the journal's writes) finish in real time: waited for.
        """
        hass, sandbox = self.hass, self.sandbox
        last: tuple[int, ...] | None = None
        unchanged = 0
        for _ in range(50_000):
            jobs = [
                t
                for t in hass._tasks
                if not t.done() and not isinstance(t, asyncio.Task)
            ]
            if jobs:
                await asyncio.wait(jobs)
            busy = [t for t in hass._tasks if not t.done()]
            background = [t for t in hass._background_tasks if not t.done()]
            mine = [t for t in self.tasks if not t.done()]
            signature = (
                len(sandbox.requests),
                len(sandbox.exchanges),
                sandbox.in_flight,
                len(busy),
                len(background),
                len(mine),
            )
            if not busy and not background and not mine and not sandbox.in_flight:
                await asyncio.sleep(0)
                return
            if signature == last and sandbox.in_flight == sandbox.held:
                unchanged += 1
                if unchanged >= 60:
                    return
            else:
                unchanged = 0
            last = signature
            await asyncio.sleep(0)
        raise AssertionError("the loop never became quiet")


# --- what the mapped entities say ----------------------------------------------------


class Unreadable(Exception):  # noqa: N818 - a reading, not an error
    """A value cannot be read: ``status`` and the entity."""

    def __init__(self, status: str, entity_id: str) -> None:
        super().__init__(status, entity_id)
        self.status = status
        self.entity_id = entity_id


def _number(hass: HomeAssistant, entity_id: str) -> tuple[float, Any]:
    state = hass.states.get(entity_id)
    if state is None or state.state in (STATE_UNKNOWN, STATE_UNAVAILABLE):
        raise Unreadable("waiting_for_data", entity_id)
    try:
        value = float(state.state)
    except ValueError:
        raise Unreadable("invalid_data", entity_id) from None
    if not math.isfinite(value):
        raise Unreadable("invalid_data", entity_id)
    return value, state.attributes.get(ATTR_UNIT_OF_MEASUREMENT)


def _percent(hass: HomeAssistant, entity_id: str) -> float:
    value, unit = _number(hass, entity_id)
    if unit != "%" or not isinstance(unit, str) or not -1 <= value <= 101:
        raise Unreadable("invalid_data", entity_id)
    return min(100.0, max(0.0, value))


def _converted(
    hass: HomeAssistant, entity_id: str, converter: Any, target: str
) -> float | None:
    try:
        value, unit = _number(hass, entity_id)
    except Unreadable:
        return None
    if not isinstance(unit, str) or unit not in converter.VALID_UNITS:
        return None
    try:
        converted = converter.convert(value, unit, target)
    except (ArithmeticError, ValueError):
        return None
    return round(converted, 4) if math.isfinite(converted) else None


def _optional_percent(hass: HomeAssistant, entity_id: str) -> float | None:
    try:
        return _percent(hass, entity_id)
    except Unreadable:
        return None


def _sum(values: list[float | None]) -> float | None:
    if any(v is None for v in values):
        return None
    total = 0.0
    for value in values:
        total += value or 0.0
    return round(total, 4) if math.isfinite(total) else None


def expected(hass: HomeAssistant, options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the body's values the mapped entities give now (no time, no id).

    Raise ``Unreadable`` when a required value cannot be read. Written from
    the README's rules, not from the integration's code.
    """
    batteries = batteries_from_options(options)
    socs = [_percent(hass, b.soc_entity) for b in batteries]
    if options.get(CONF_TARGET_SOC_ENTITY):
        target = _percent(hass, options[CONF_TARGET_SOC_ENTITY])
    else:
        target = float(options[CONF_TARGET_SOC_PERCENT])
    if len(socs) == 1:
        soc = socs[0]
    else:
        capacities = [b.capacity_kwh for b in batteries]
        weights = (
            [float(c) for c in capacities if c is not None]
            if all(c is not None and c > 0 for c in capacities)
            else [1.0] * len(socs)
        )
        soc = round(
            sum(w * s for w, s in zip(weights, socs, strict=True)) / sum(weights), 4
        )
    body: dict[str, Any] = {
        "state_of_charge_percent": soc,
        "target_state_of_charge_percent": target,
    }
    if options.get(CONF_RESERVE_ENTITY):
        reserve = _optional_percent(hass, options[CONF_RESERVE_ENTITY])
    else:
        reserve = options.get(CONF_RESERVE_PERCENT)
    if reserve is not None:
        body["backup_reserve_percent"] = reserve
    kwh = [
        _converted(hass, b.energy_entity, EnergyConverter, UnitOfEnergy.KILO_WATT_HOUR)
        if b.energy_entity
        else None
        for b in batteries
    ]
    energy = _sum([None if v is not None and v < 0 else v for v in kwh])
    if energy is not None:
        body["energy_remaining_kwh"] = energy + 0
    power = _sum(
        [
            _converted(hass, b.power_entity, PowerConverter, UnitOfPower.KILO_WATT)
            if b.power_entity
            else None
            for b in batteries
        ]
    )
    if power is not None:
        body["battery_power_kw"] = abs(power) + 0
        if power != 0:
            discharging = (power > 0) == (
                options.get(CONF_POWER_SIGN, "positive_discharging")
                == "positive_discharging"
            )
            body["energy_flow_direction"] = "EXPORT" if discharging else "IMPORT"
    return body


def compare(sent: Mapping[str, Any], wanted: Mapping[str, Any]) -> list[str]:
    """Return how a body differs from the expected values (time and id aside)."""
    problems = []
    keys = (set(sent) | set(wanted)) - {"time", "record_reference_id"}
    for key in sorted(keys):
        a, b = sent.get(key), wanted.get(key)
        if isinstance(a, float) and math.copysign(1, a) < 0 and a == 0:
            problems.append(f"{key}: -0.0")
        if isinstance(a, int | float) and isinstance(b, int | float):
            if not math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-4):
                problems.append(f"{key}: sent {a!r}, expected {b!r}")
        elif a != b:
            problems.append(f"{key}: sent {a!r}, expected {b!r}")
    return problems


# --- the ledger ----------------------------------------------------------------------


@dataclass
class Ledger:
    """Every record queued, dropped by the bounds, and what was wrong with one."""

    produced: list[str] = field(default_factory=list)
    produced_at: dict[str, float] = field(default_factory=dict)  # monotonic
    dropped: set[str] = field(default_factory=set)
    wrong_bodies: list[tuple[dict[str, Any], Any]] = field(default_factory=list)
    wrong_failures: list[tuple[str, str, Any]] = field(default_factory=list)
    options: Mapping[str, Any] | None = None
    hass: HomeAssistant | None = None
    check_bodies: bool = True
    bodies: dict[str, list[Any]] = field(default_factory=dict)
    source: Callable[[], str] = lambda: ""

    def install(self, monkeypatch: Any) -> None:
        """Wrap ``Outbox.append`` and ``Outbox.prune`` (every entry, every reload)."""
        append, prune = Outbox.append, Outbox.prune
        ledger = self

        def counting_append(outbox: Outbox, state: DeviceState) -> None:
            append(outbox, state)
            ref = state.record_reference_id or ""
            ledger.produced.append(ref)
            ledger.bodies.setdefault(ref, []).append(
                (time.monotonic(), state.to_json(), ledger.source())
            )
            ledger.produced_at.setdefault(ref, time.monotonic())
            ledger.check(state)

        def counting_prune(outbox: Outbox, now: Any = None) -> int:
            before = list(outbox._records)
            dropped = prune(outbox, now)
            if dropped:
                kept = {id(e) for e in outbox._records}
                ledger.dropped.update(
                    e.state.record_reference_id or ""
                    for e in before
                    if id(e) not in kept
                )
            return dropped

        monkeypatch.setattr(Outbox, "append", counting_append)
        monkeypatch.setattr(Outbox, "prune", counting_prune)

    def check(self, state: DeviceState) -> None:
        """Compare a queued record with the entities (when it is a snapshot of now)."""
        if not self.check_bodies or self.hass is None or self.options is None:
            return
        sent = state.to_json()
        try:
            wanted: Any = expected(self.hass, self.options)
        except Unreadable as err:
            self.wrong_bodies.append(
                (sent, f"expected none: {err.status} {err.entity_id}")
            )
            return
        if problems := compare(sent, wanted):
            self.wrong_bodies.append((sent, problems))

    def check_failure(self, status: str, entity_id: str | None) -> None:
        """Compare a snapshot that could not be taken with the entities."""
        if not self.check_bodies or self.hass is None or self.options is None:
            return
        try:
            wanted = expected(self.hass, self.options)
        except Unreadable as err:
            if (err.status, err.entity_id) != (status, entity_id):
                self.wrong_failures.append(
                    (status, str(entity_id), f"expected {err.status} {err.entity_id}")
                )
            return
        self.wrong_failures.append((status, str(entity_id), f"expected {wanted}"))


def capacity_options(capacities: tuple[float, ...]) -> dict[str, Any]:
    """Return the capacity keys of several batteries."""
    return {
        (CONF_CAPACITY if i == 0 else f"{CONF_CAPACITY}_{i + 1}"): c
        for i, c in enumerate(capacities)
    }
