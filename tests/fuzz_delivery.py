"""Delivery fuzzer: hostile API answers and hostile entity states, together.

Not part of the suite (not a ``test_*.py`` file): run it with ``scripts/fuzz``;
FUZZ_SEED, FUZZ_ANSWERS and FUZZ_ENTITIES change the run. Written for the
independent review of issue 15. The integration runs in Home Assistant's
test harness against ``FuzzSandbox`` on a frozen clock moved in half seconds.
Weather changes: calm, flaky, stormy, down; during a storm each request is
answered at random: 5xx and 429 with every form of ``Retry-After`` (0,
negative, fractions, junk, HTTP dates past and future, with the answer's
``Date`` skewed by hours or unreadable), 400/422 (a rejection), 422
``api_version_not_supported``, 404 on the PUT, 401 (a token refused, twice
in a row a refused key), 401/403/404 from the token endpoint, 3xx and odd
statuses, junk 2xx bodies, connections dropped before the answer, answers
reset in the middle of their body (after the record was stored, or not),
records stored and then answered 500, answers held for up to 45 s of
simulated time (a client timeout at 30 s). Meanwhile the mapped entities (two
batteries, a target and a reserve entity) change, with hostile states and
units now and then (FUZZ_ENTITIES=0: sound values only); the action and the
button are called; the entry is reloaded. After each storm the weather is
calm until the outbox drained, and the checks run:

- every record queued is at the sandbox or was refused (an injected 400/422)
  or dropped by the bounds: nothing lost; none was sent again after its 2xx
  arrived whole; every body the sandbox received passed its schema check and
  says what the entities said when it was taken (an independent reading);
- the last record Flatpeak received is the newest one queued;
- the entities show the final truth (ok, 0 queued, no error, connected, the
  exact rejected count), none written twice within a second;
- no second saw more than a handful of failed requests, and every wait of the
  sender after one of its failures kept its floor and Flatpeak's
  ``Retry-After`` (``floors`` says what is not counted: the reads' own
  requests, aiohttp's own resend, a reload, a user's action or button);
- no "Error doing job", no trace, no ERROR but a pause's;
- the action and the button answered within 1 s whenever they could not be
  tried at once, and never after more than 60 s.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import pairwise
import logging
import os
import random
import time
from typing import Any, ClassVar

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.account.migration import account_unique_id
from custom_components.flatpeak.api.responses import parse_retry_after
from custom_components.flatpeak.const import (
    CONF_ENERGY_ENTITY,
    CONF_POWER_ENTITY,
    CONF_RESERVE_ENTITY,
    CONF_RESERVE_PERCENT,
    CONF_SOC_ENTITY,
    DOMAIN,
)
from custom_components.flatpeak.delivery.sender import Sender, SenderState
from custom_components.flatpeak.mapping.batteries import CONF_CAPACITY, battery_key
from flatpeak_sandbox import DEFAULT_DEVICE_ID

from .conftest import (
    BEHAVIOUR,
    ENERGY,
    MAPPING,
    POWER,
    RESERVE,
    SOC,
    SUBENTRY_ID,
    TARGET,
    account_data,
    device_subentry_data,
    entity_id as entity_id_of,
    runtime_of,
)
from .fuzz_tools import Answer, Driver, FuzzSandbox, Ledger

SEED = int(os.environ.get("FUZZ_SEED", "15"))
ANSWERS = int(os.environ.get("FUZZ_ANSWERS", "10000"))
HOSTILE_ENTITIES = os.environ.get("FUZZ_ENTITIES", "1") == "1"
STEP = 0.5  # seconds of simulated time per step
SENDER_TASK = f"{DOMAIN} deliver"  # the sender's delivery task (delivery/sender.py)

SOC_2 = "sensor.garage_soc"
POWER_2 = "sensor.garage_power"
ENERGY_2 = "sensor.garage_energy"
START = datetime(2026, 11, 28, 10, 0, 10, tzinfo=UTC)

OPTIONS: dict[str, Any] = {
    **MAPPING,
    **BEHAVIOUR,
    "min_interval": 0,
    CONF_RESERVE_ENTITY: RESERVE,
    CONF_CAPACITY: 10,
    battery_key(CONF_SOC_ENTITY, 1): SOC_2,
    battery_key(CONF_POWER_ENTITY, 1): POWER_2,
    battery_key(CONF_ENERGY_ENTITY, 1): ENERGY_2,
    battery_key(CONF_CAPACITY, 1): 5,
}
del OPTIONS[CONF_RESERVE_PERCENT]

# entity: (kind, sound unit, other units it may report in)
ENTITIES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    SOC: ("percent", "%", ()),
    SOC_2: ("percent", "%", ()),
    TARGET: ("percent", "%", ()),
    RESERVE: ("percent", "%", ()),
    POWER: ("power", "W", ("kW", "MW", "mW", "GW")),
    POWER_2: ("power", "kW", ("W", "MW")),
    ENERGY: ("energy", "kWh", ("Wh", "MWh", "GJ", "kJ")),
    ENERGY_2: ("energy", "Wh", ("kWh", "MWh")),
}
HOSTILE_STATES = (
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "-1e308",
    "1e306",
    "1.5e305",
    "-0",
    "-0.0",
    "",
    " 5 ",
    "0x10",
    "1_000",
    "１００",  # noqa: RUF001 - full-width digits
    "٥٠",  # noqa: RUF001 - Arabic-Indic digits: float() reads them
    "5,5",
    "1" * 255,
    "unknown",
    "unavailable",
    "1e-320",
    "100.3",
    "101.5",
    "-0.4",
    "-1.5",
    "50%",
    "\t42\n",
    "+7",
    "None",
    "True",
)
ODD_UNITS: tuple[Any, ...] = (None, "", ["%"], {"u": "W"}, 5, "w", " kW", "kwh", "°C")


def retry_after_forms(rng: random.Random, now: datetime) -> dict[str, str]:
    """Return a ``Retry-After`` header (and maybe a ``Date``), any form."""
    numeric = [
        "0",
        "-5",
        "-0",
        "1",
        "2",
        "7",
        "30",
        "120",
        "3600",
        "86400",
        "9" * 30,
        "1.5",
        "1e3",
        " 12 ",
        "abc",
        "",
        "٣",
    ]
    if rng.random() < 0.55:
        return {"Retry-After": rng.choice(numeric)}
    skew = timedelta(hours=rng.choice([0, 0, -3, 3, -0.01, 30 * 24]))
    server_now = now + skew
    wait = timedelta(seconds=rng.choice([-3600, -5, 0, 3, 20, 90, 7200, 2 * 86400]))
    headers = {"Retry-After": format_datetime(server_now + wait, usegmt=True)}
    date = rng.random()
    if date < 0.6:
        headers["Date"] = format_datetime(server_now, usegmt=True)
    elif date < 0.7:
        headers["Date"] = "yesterday"
    return headers


JUNK_2XX = (
    b"",
    b"[]",
    b"null",
    b"{",
    b"\xff\xfe\x00",
    b'{"id": 5}',
    b'{"id": "dsr_x", "device_id": null}',
    b'"ok"',
    b"[" * 5000,
    b'{"id":"' + b"x" * 100_000 + b'"}',
)
JUNK_TOKENS = (
    b"not json",
    b"[]",
    b"{}",
    b'{"bearer_token": "a b"}',
    b'{"bearer_token": ""}',
    b'{"token": 5}',
    b'{"bearer_token": "\xc3\xa9"}',
)


class Weather:
    """Decides each answer: the weather sets how often a request fails."""

    CHANCE: ClassVar[dict[str, float]] = {
        "calm": 0.0,
        "fine": 0.03,
        "flaky": 0.35,
        "storm": 0.85,
    }

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.mode = "fine"
        self.kinds: Counter[str] = Counter()

    def now(self) -> datetime:
        return datetime.now(UTC)

    def decide(self, endpoint: str, body: Any) -> Answer:
        rng = self.rng
        answer = Answer("ok", real=True)
        if rng.random() < self.CHANCE[self.mode]:
            if endpoint == "state":
                answer = self._put(rng)
            elif endpoint == "token":
                answer = self._token(rng)
            elif endpoint == "device":
                answer = self._device(rng)
        self.kinds[f"{endpoint}:{answer.kind}"] += 1
        return answer

    def _status(self, rng: random.Random, status: int, kind: str) -> Answer:
        headers = retry_after_forms(rng, self.now()) if rng.random() < 0.8 else {}
        return Answer(kind, status=status, headers=headers)

    def _put(self, rng: random.Random) -> Answer:  # noqa: C901 - a menu
        roll = rng.random() * 100
        if roll < 12:
            return self._status(rng, rng.choice([500, 502, 504]), "5xx")
        if roll < 26:
            return self._status(rng, 503, "503")
        if roll < 36:
            return self._status(rng, 429, "429")
        if roll < 37.5:
            return Answer("reject", status=rng.choice([400, 422]))
        if roll < 40:
            return Answer(
                "api_version",
                status=422,
                body=b'{"code": "api_version_not_supported", "message": "no"}',
            )
        if roll < 40.4:
            return Answer("404", status=404)
        if roll < 44:
            return Answer("401", status=401)
        if roll < 46:
            return Answer("odd_status", status=rng.choice([302, 409, 418, 451, 599]))
        if roll < 52:
            return Answer("drop", drop=True)
        if roll < 57:
            return Answer("stored_drop", store=True, drop=True)
        if roll < 61:
            return Answer("stored_500", store=True, status=500)
        if roll < 67:
            return Answer("stored_cut_2xx", real=True, cut=rng.randint(0, 40))
        if roll < 71:
            answer = self._status(rng, rng.choice([500, 503, 429]), "cut_error")
            answer.cut = rng.randint(0, 20)
            return answer
        if roll < 78:
            return Answer(
                "stored_junk_2xx",
                store=True,
                status=rng.choice([200, 201, 202, 204]),
                body=rng.choice(JUNK_2XX),
            )
        if roll < 90:
            return Answer("slow", real=True, delay=rng.choice([1, 3, 10, 29, 31, 45]))
        answer = self._status(rng, 503, "slow_503")
        answer.delay = rng.choice([2, 20, 40])
        return answer

    def _token(self, rng: random.Random) -> Answer:
        roll = rng.random() * 100
        if roll < 1:
            return Answer("token_401", status=401)
        if roll < 2:
            return Answer("token_403", status=403)
        if roll < 4:
            return Answer("token_404", status=404)
        if roll < 45:
            return self._status(rng, rng.choice([500, 503, 429]), "token_5xx")
        if roll < 65:
            return Answer("token_junk", status=200, body=rng.choice(JUNK_TOKENS))
        if roll < 85:
            return Answer("token_drop", drop=True)
        return Answer("token_slow", real=True, delay=rng.choice([2, 15, 35]))

    def _device(self, rng: random.Random) -> Answer:
        roll = rng.random() * 100
        if roll < 20:
            return Answer("device_404", status=404)
        if roll < 60:
            return self._status(rng, 500, "device_500")
        if roll < 80:
            return Answer("device_drop", drop=True)
        return Answer("device_junk", status=200, body=b"[1, 2]")


class EntityFuzzer:
    """Changes the mapped entities: mostly sound values, now and then hostile."""

    def __init__(self, hass: HomeAssistant, rng: random.Random) -> None:
        self.hass = hass
        self.rng = rng
        self.units = {e: spec[1] for e, spec in ENTITIES.items()}
        self.changes = 0
        self.hostile = 0

    def sound(self, entity_id: str) -> None:
        kind, unit, _ = ENTITIES[entity_id]
        self.units[entity_id] = unit
        self._set(entity_id, self._sound_value(kind, unit), unit)

    def all_sound(self) -> None:
        for entity_id in ENTITIES:
            self.sound(entity_id)

    def _sound_value(self, kind: str, unit: str) -> str:
        rng = self.rng
        if kind == "percent":
            return str(round(rng.uniform(0, 100), rng.choice([0, 1, 2])))
        scale = {"W": 1000, "kW": 1, "MW": 0.001, "mW": 1e6, "GW": 1e-6}
        scale |= {"Wh": 1000, "kWh": 1, "MWh": 0.001, "GJ": 0.0036, "kJ": 3600}
        if kind == "power":
            return str(round(rng.uniform(-5, 5) * scale[unit], 3))
        return str(round(rng.uniform(0, 20) * scale[unit], 3))

    def change(self) -> None:
        rng = self.rng
        entity_id = rng.choice(list(ENTITIES))
        kind, unit, others = ENTITIES[entity_id]
        self.changes += 1
        roll = rng.random()
        if not HOSTILE_ENTITIES or roll < 0.82:
            if others and rng.random() < 0.1:
                self.units[entity_id] = rng.choice((unit, *others))
            self._set(
                entity_id,
                self._sound_value(kind, self.units[entity_id]),
                self.units[entity_id],
            )
            return
        self.hostile += 1
        if roll < 0.93:
            self._set(entity_id, rng.choice(HOSTILE_STATES), self.units[entity_id])
        else:
            self._set(entity_id, self._sound_value(kind, unit), rng.choice(ODD_UNITS))

    def _set(self, entity_id: str, state: str, unit: Any) -> None:
        attributes: dict[str, Any] = {}
        if unit is not None or self.rng.random() < 0.5:
            attributes["unit_of_measurement"] = unit
        if self.rng.random() < 0.8:
            kind = ENTITIES[entity_id][0]
            attributes["device_class"] = {
                "percent": "battery",
                "power": "power",
                "energy": "energy_storage",
            }[kind]
        self.hass.states.async_set(entity_id, state, attributes)


class ErrorLog(logging.Handler):
    """Keeps every ERROR (and every trace) logged while the fuzzer runs."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.kinds: Counter[str] = Counter()
        self.bad: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(("aiohttp", "asyncio")):
            return  # the sandbox's own connection resets
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            self.kinds[f"{record.levelname} {record.name}: {message[:60]}"] += 1
        # A pause is logged as an ERROR: the user has to act (or a check will).
        paused = (
            "Submissions to Flatpeak paused" in message
            or "Flatpeak refused the account's credentials" in message
        )
        if (
            record.exc_info
            or "Error doing job" in message
            or (record.levelno >= logging.ERROR and not paused)
        ):
            self.bad.append(f"{record.name}: {message}")


class EntityWrites:
    """The entry's entity writes, with the monotonic second they happened in."""

    def __init__(self, hass: HomeAssistant) -> None:
        self.registry = er.async_get(hass)
        self.times: defaultdict[str, list[float]] = defaultdict(list)
        self.states: defaultdict[str, list[Any]] = defaultdict(list)
        self.quiet_until = 0.0  # a reload's writes (unavailable and back) aside
        hass.bus.async_listen(EVENT_STATE_CHANGED, self._on_event)

    @callback
    def _on_event(self, event: Event[Any]) -> None:
        entity_id = event.data["entity_id"]
        entry = self.registry.async_get(entity_id)
        if entry is None or entry.platform != DOMAIN:
            return
        new, old = event.data["new_state"], event.data["old_state"]
        if new is None or old is None or "unavailable" in (new.state, old.state):
            return
        if time.monotonic() < self.quiet_until:
            return
        self.times[entity_id].append(time.monotonic())
        self.states[entity_id].append((time.monotonic(), old.state, new.state))

    def shortest_gap(self) -> tuple[float, str]:
        gaps = [
            (b[0] - a[0], f"{entity_id} {a} {b}")
            for entity_id, states in self.states.items()
            for a, b in pairwise(states)
        ]
        return min(gaps, default=(float("inf"), ""))


def install_event_log(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """Log the sender's decisions: (wall clock, sender, what, detail)."""
    from custom_components.flatpeak.delivery import retry

    events: list[tuple[Any, ...]] = []
    failed = retry.RetryTimes.failed

    def logged_failed(self: Any, retry_after: Any, *, rate_limited: bool) -> float:
        manual = self._manual_due
        delay = failed(self, retry_after, rate_limited=rate_limited)
        events.append((time.time(), id(self), "failed", delay, retry_after, manual))
        return delay

    monkeypatch.setattr(retry.RetryTimes, "failed", logged_failed)
    for name in (
        "_kick",
        "_resume",
        "retry_now",
        "pause",
        "resume",
        "stop",
        "start",
    ):
        real = getattr(Sender, name)

        @callback
        def wrapper(self: Any, *args: Any, _real: Any = real, _name: str = name) -> Any:
            events.append((time.time(), id(self._times), _name, self.state))
            return _real(self, *args)

        monkeypatch.setattr(Sender, name, wrapper)
    return events


def install_origin_log(monkeypatch: pytest.MonkeyPatch) -> None:
    """Name the task that sends each request in its User-Agent (``fuzz-origin/``).

    ``fuzz-call/`` numbers the calls of ``_send``: a request aiohttp sends
    again by itself (a reused connection closed under it) has its number.

    ``_send`` builds its headers before its first ``await``: the name set
    just before the call is the one sent.
    """
    import asyncio

    from custom_components.flatpeak.api.client import FlatpeakClient

    send = FlatpeakClient._send
    calls = iter(range(1, 1 << 62))

    async def named_send(self: Any, method: str, url: Any, **kwargs: Any) -> Any:
        agent = self.__dict__.setdefault("_fuzz_agent", self._user_agent)
        task = asyncio.current_task()
        name = task.get_name() if task else "?"
        self._user_agent = f"{agent} fuzz-call/{next(calls)} fuzz-origin/{name}"
        return await send(self, method, url, **kwargs)

    monkeypatch.setattr(FlatpeakClient, "_send", named_send)


def caller() -> str:
    """Return the scheduler's or sender's function that queued a record."""
    import inspect

    names = [
        f.function for f in inspect.stack()[2:12] if "custom_components" in f.filename
    ]
    return "/".join(names[:4])


def dump_tasks_on_signal() -> None:
    """``kill -USR2 <pid>``: print every task's stack (a run that stopped moving)."""
    import asyncio
    import signal

    def dump() -> None:
        for task in asyncio.all_tasks():
            print("TASK", task.get_name(), flush=True)
            task.print_stack(limit=12)

    asyncio.get_running_loop().add_signal_handler(signal.SIGUSR2, dump)


def fuzzed_entry(sandbox: FuzzSandbox, options: dict[str, Any]) -> MockConfigEntry:
    """Return the account entry on ``sandbox`` with one device of ``options``."""
    data = account_data(sandbox)
    return MockConfigEntry(
        domain=DOMAIN,
        version=2,
        title="Flatpeak fuzzed account",
        unique_id=account_unique_id(data),
        data=data,
        subentries_data=[
            device_subentry_data(DEFAULT_DEVICE_ID, options, subentry_id=SUBENTRY_ID)
        ],
    )


@pytest.fixture
def fuzz_sandbox_rng() -> random.Random:
    return random.Random(SEED)  # noqa: S311


async def test_fuzz(  # noqa: C901 - the whole run, in one place
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    dump_tasks_on_signal()
    freezer.move_to(START)
    rng = random.Random(SEED)  # noqa: S311
    weather = Weather(random.Random(rng.random()))  # noqa: S311
    sandbox = FuzzSandbox(weather.decide)
    await sandbox.start()
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    ledger = Ledger(hass=hass, options=OPTIONS, check_bodies=True)
    ledger.source = caller
    ledger.install(monkeypatch)
    failures_seen: list[tuple[str, str | None]] = []
    real_failed = Sender.snapshot_failed

    def snapshot_failed(self: Sender, err: Any) -> None:
        ledger.check_failure(str(err.status), err.entity_id)
        failures_seen.append((str(err.status), err.entity_id))
        real_failed(self, err)

    monkeypatch.setattr(Sender, "snapshot_failed", snapshot_failed)
    events = install_event_log(monkeypatch)
    install_origin_log(monkeypatch)
    entities = EntityFuzzer(hass, random.Random(rng.random()))  # noqa: S311
    entities.all_sound()
    entry = fuzzed_entry(sandbox, OPTIONS)
    entry.add_to_hass(hass)
    driver = Driver(hass, freezer, sandbox)
    writes = EntityWrites(hass)
    weather.mode = "calm"
    driver.spawn(hass.config_entries.async_setup(entry.entry_id))
    await driver.step(1)

    actions: list[dict[str, Any]] = []
    reloads = 0
    calm_checks = 0
    problems: list[str] = []
    started = os.times().elapsed

    def sender() -> Sender:
        return runtime_of(entry).sender

    async def act(kind: str) -> None:
        s = sender()
        record: dict[str, Any] = {
            "kind": kind,
            "at": time.monotonic(),
            "wall": time.time(),
            "state": s.state,
            "may_try_now": s._may_try_now(),
        }
        actions.append(record)
        try:
            if kind == "button":
                await hass.services.async_call(
                    "button",
                    "press",
                    {"entity_id": entity_id_of(hass, "submit_now", "button")},
                    blocking=True,
                )
            else:
                await hass.services.async_call(
                    DOMAIN, "submit_device_state", {}, blocking=True
                )
            record["outcome"] = "ok"
        except HomeAssistantError as err:
            record["outcome"] = getattr(err, "translation_key", None) or str(err)
        record["took"] = time.monotonic() - record["at"]

    reload_times: list[tuple[float, float]] = []  # wall clock: start, end

    async def reload() -> None:
        nonlocal reloads
        reloads += 1
        began = time.time()
        writes.quiet_until = time.monotonic() + 2
        await hass.config_entries.async_reload(entry.entry_id)
        writes.quiet_until = time.monotonic() + 2
        reload_times.append((began, time.time()))

    def loaded() -> bool:
        return entry.state is ConfigEntryState.LOADED

    async def calm() -> None:
        """Sound answers and entities until the outbox drained; then check."""
        nonlocal calm_checks
        weather.mode = "calm"
        entities.all_sound()
        for _ in range(int(3 * 3600 / 5)):  # an hourly credentials check, twice
            await driver.step(5)
            if (
                not driver.tasks
                and loaded()
                and runtime_of(entry).sender.state is SenderState.IDLE
                and not runtime_of(entry).outbox
                and not sandbox.in_flight
            ):
                break
        else:
            problems.append(f"calm {calm_checks}: the outbox did not drain")
            return
        await driver.step(2)  # the entities' once-a-second write
        await driver.step(2)
        calm_checks += 1
        check_calm(f"calm {calm_checks}")

    def check_calm(where: str) -> None:
        rt = runtime_of(entry)
        stored = [s.body["record_reference_id"] for s in sandbox.stored()]
        refused = {
            x.ref
            for x in sandbox.exchanges
            if x.endpoint == "state" and x.kind == "reject"
        }
        newest = next(
            (
                r
                for r in reversed(ledger.produced)
                if r not in refused and r not in ledger.dropped
            ),
            None,
        )
        if stored and newest is not None and stored[-1] != newest:
            last = next(
                (x for x in reversed(sandbox.exchanges) if x.endpoint == "state"),
                None,
            )
            problems.append(
                f"{where}: the last record Flatpeak received is not the newest "
                f"queued (last PUT answered {last.kind if last else None}); "
                f"queued last {ledger.produced[-3:]}, stored last {stored[-3:]}; "
                f"exchanges {[(x.kind, x.ref, x.received, x.at) for x in sandbox.exchanges[-6:]]}"
            )
        shown = {
            key: hass.states.get(entity_id_of(hass, key))
            for key in (
                "submission_status",
                "queued_records",
                "last_error",
                "rejected_records",
                "dropped_records",
            )
        }
        connection = hass.states.get(
            entity_id_of(hass, "api_connection", "binary_sensor")
        )
        truth = {
            "submission_status": "ok",
            "queued_records": "0",
            "last_error": "none",
            "rejected_records": str(rt.outbox.rejected),
            "dropped_records": str(len(ledger.dropped)),
        }
        for key, want in truth.items():
            state = shown[key]
            if state is None or state.state != want:
                problems.append(
                    f"{where}: {key} shows {state.state if state else None}, "
                    f"the truth is {want}"
                )
        if connection is None or connection.state != "on":
            problems.append(f"{where}: api_connection is not on")
        injected = sum(
            1 for x in sandbox.exchanges if x.endpoint == "state" and x.kind == "reject"
        )
        if rt.outbox.rejected != injected:
            problems.append(
                f"{where}: {rt.outbox.rejected} rejected, {injected} refusals injected"
            )

    # --- the run ---------------------------------------------------------------------
    def fuzzed() -> int:
        return sum(1 for x in sandbox.exchanges if x.kind != "ok")

    storms = 0
    while fuzzed() < ANSWERS:
        storms += 1
        weather.mode = rng.choice(
            ["fine", "flaky", "flaky", "flaky", "flaky", "storm", "storm", "down"]
        )
        if weather.mode == "down":
            sandbox.outage = True
            weather.mode = "storm"
        length = rng.choice([30, 120, 600, 1800])
        for _ in range(int(length / STEP)):
            if sandbox.outage and rng.random() < 0.01:
                sandbox.outage = False
            if rng.random() < 0.4:
                entities.change()
            if rng.random() < 0.004:
                sandbox.expire_tokens()
            if rng.random() < 0.003 and loaded() and len(driver.tasks) < 3:
                driver.spawn(act(rng.choice(["action", "button"])))
            if rng.random() < 0.0005 and not driver.tasks:
                driver.spawn(reload())
            await driver.step(STEP)
        sandbox.outage = False
        await calm()
        print(
            f"storm {storms}: {len(sandbox.exchanges)} answers ({fuzzed()} fuzzed), "
            f"{len(ledger.produced)} records, "
            f"{os.times().elapsed - started:.0f} s",
            flush=True,
        )

    # --- the verdict -----------------------------------------------------------------
    stored = [s.body["record_reference_id"] for s in sandbox.stored()]
    refused = {
        x.ref for x in sandbox.exchanges if x.endpoint == "state" and x.kind == "reject"
    }
    lost = set(ledger.produced) - set(stored) - refused - ledger.dropped
    clean: dict[str, float] = {}
    sent_again = 0
    again: list[str] = []
    for x in sandbox.exchanges:
        if x.endpoint != "state" or x.ref is None:
            continue
        if (
            x.ref in clean
            and x.received >= clean[x.ref]
            and not any(
                clean[x.ref] <= end and began <= x.received
                for began, end in reload_times
            )
        ):
            sent_again += 1
            history = [
                (y.kind, y.status, y.received, y.at, y.clean_ok)
                for y in sandbox.exchanges
                if y.ref == x.ref
            ]
            near = [
                (a["kind"], a["wall"], a.get("outcome"))
                for a in actions
                if abs(a["wall"] - x.received) < 120
            ]
            again.append(
                f"{x.ref}: {history}; queued {ledger.bodies.get(x.ref)}; actions {near}"
            )
        # An answer to an instance unloaded meanwhile is not read by anyone.
        if x.clean_ok and not any(
            x.received <= e and b <= x.at for b, e in reload_times
        ):
            clean[x.ref] = x.at
    failed_per_second: Counter[int] = Counter()
    for x in sandbox.exchanges:
        ok = 200 <= x.status < 300 or (x.endpoint == "state" and x.kind == "reject")
        if not ok:
            failed_per_second[int(x.at)] += 1
    floor_checks: Counter[str] = Counter()
    floor_breaches = floors(sandbox, actions, reload_times, events, floor_checks)
    slow_actions = [
        a
        for a in actions
        if "took" in a
        and ((not a["may_try_now"] and a["took"] > 1.0) or a["took"] > 61)
    ]
    unanswered = [a for a in actions if "took" not in a]
    gap, gap_entity = writes.shortest_gap()
    figures = {
        "seed": SEED,
        "storms (calm checks)": f"{storms} ({calm_checks})",
        "simulated time": f"{(datetime.now(UTC) - START).total_seconds() / 3600:.1f} h",
        "answers (fuzzed)": f"{len(sandbox.exchanges)} ({fuzzed()})",
        "answer kinds": ", ".join(f"{k} {v}" for k, v in weather.kinds.most_common()),
        "entity changes (hostile)": f"{entities.changes} ({entities.hostile})",
        "snapshot failures": len(failures_seen),
        "records queued": len(ledger.produced),
        "records at the sandbox": len(stored),
        "refused (injected 400/422)": len(refused),
        "dropped by the bounds": len(ledger.dropped),
        "lost": len(lost),
        "sent again after a whole 2xx": sent_again,
        "PUTs of a stored record (any cause)": sandbox.duplicates,
        "invalid bodies (sandbox schema)": len(sandbox.invalid_bodies),
        "bodies not what the entities said": len(ledger.wrong_bodies),
        "snapshot failures not what the entities said": len(ledger.wrong_failures),
        "most failed requests in one second": max(
            failed_per_second.values(), default=0
        ),
        "waits shorter than their floor": len(floor_breaches),
        "sender's failures (floor checked, not counted)": (
            f"{floor_checks['checked']} ("
            + ", ".join(f"{k} {v}" for k, v in floor_checks.items() if k != "checked")
            + ")"
        ),
        "actions/button (slow, unanswered)": f"{len(actions)} ({len(slow_actions)}, "
        f"{len(unanswered)})",
        "action outcomes": ", ".join(
            f"{k} {v}" for k, v in Counter(a.get("outcome") for a in actions).items()
        ),
        "reloads": reloads,
        "shortest gap between two writes of an entity": f"{gap:.2f} s ({gap_entity})",
        "errors and traces logged": len(errors.bad),
        "run time": f"{os.times().elapsed - started:.0f} s",
    }
    width = max(map(len, figures))
    print("\nFuzz results")
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value}")
    for line in problems[:30]:
        print("  PROBLEM", line)
    for line in errors.bad[:10]:
        print("  LOGGED", line[:300])
    for body, why in ledger.wrong_bodies[:10]:
        print("  BODY", why, body)
    for failure in ledger.wrong_failures[:10]:
        print("  FAILURE", failure)
    for ref in list(lost)[:10]:
        print(
            "  LOST",
            ref,
            ledger.bodies.get(ref),
            [
                (y.kind, y.status, y.received, y.at, y.clean_ok, y.stored)
                for y in sandbox.exchanges
                if y.ref == ref
            ],
            [b for b, e in reload_times],
        )
    for line in again[:10]:
        print("  SENT AGAIN", line)
    for breach in floor_breaches:
        print("  FLOOR", breach)
    for action in slow_actions[:10]:
        print("  ACTION", action)
    for kind, count in errors.kinds.most_common(25):
        print(f"  log {count:6d}  {kind}")
    print(
        "  failed requests per second:",
        sorted(Counter(failed_per_second.values()).items()),
    )
    await hass.config_entries.async_unload(entry.entry_id)
    await driver.quiet()
    await sandbox.stop()
    logging.getLogger().removeHandler(errors)
    assert not lost
    assert sent_again == 0
    assert not sandbox.invalid_bodies
    assert not ledger.wrong_bodies
    assert not ledger.wrong_failures
    assert not errors.bad
    assert not problems
    assert not slow_actions
    assert not unanswered
    assert not floor_breaches
    assert max(failed_per_second.values(), default=0) <= 6


def floors(  # noqa: C901 - one rule per exception, documented
    sandbox: FuzzSandbox,
    actions: list[dict[str, Any]],
    reloads: list[tuple[float, float]],
    events: list[tuple[Any, ...]] | None = None,
    counts: Counter[str] | None = None,
) -> list[str]:
    """Return the sender's waits after a failed request that were under their floor.

    After a 429/503 whose ``Retry-After`` the client reads: at least that
    (between 1 s and 1 h); after any other failure (a rejection, a refused
    token and a 2xx aside): the backoff's floor, 5 s. Only the sender's own
    requests count (its delivery task, named in each request's User-Agent):
    the reads of Flatpeak's data and the checks during a pause keep their own
    schedules, and a token request of theirs that fails is not a failure of
    the sender. The next request is the sender's first one to arrive after
    the failure was answered (in arrival order: the frozen clock puts many in
    one instant). Not counted:

    - a dropped ``PUT`` that aiohttp sent again at once, in the same call of
      the client (a reused connection closed under it): the sender never saw
      it fail (the resend is judged on its own);
    - a request after a reload (a start may try at once);
    - after a failure with the backoff's floor, a request within a minute of
      an action or a button press (a user's explicit attempt may end a
      backoff, not a ``Retry-After``; one that fails keeps the retry time it
      found);
    - an answer after the client's timeout (30 s): not when the client failed.
    """
    breaches = []
    counts = Counter() if counts is None else counts
    manual = sorted(a["wall"] for a in actions)
    counts["requests of others"] = sum(
        1
        for x in sandbox.exchanges
        if x.endpoint in ("state", "token") and not x.origin.startswith(SENDER_TASK)
    )
    xs = sorted(
        (
            x
            for x in sandbox.exchanges
            if x.endpoint in ("state", "token") and x.origin.startswith(SENDER_TASK)
        ),
        key=lambda x: x.seq_in,
    )
    for i, x in enumerate(xs):
        if 200 <= x.status < 300 or x.kind in ("reject", "401", "ok"):
            continue
        if x.status == 401 and x.endpoint == "state":
            continue
        if x.at - x.received >= 29.5:
            continue  # the client timed out before: it failed earlier
        after = next(
            (y for y in xs[i + 1 :] if y.seq_in > x.seq_out and y.origin == x.origin),
            None,
        )
        if after is None:
            continue
        if any(b <= after.received and x.received <= e for b, e in reloads):
            counts["reload"] += 1
            continue
        if x.call and after.call == x.call:
            counts["sent again by aiohttp"] += 1
            continue
        gap = after.received - x.at
        asked: float | None = None
        if x.status in (429, 503) and x.retry_after is not None:
            asked = parse_retry_after(
                x.retry_after,
                now=datetime.fromtimestamp(x.at, UTC),
                date=x.date,
            )
        if asked is not None:
            floor = min(3600.0, max(1.0, asked))
        else:
            floor = 5.0
            if any(x.at - 60 <= m <= after.received for m in manual):
                counts["action or button"] += 1
                continue
        counts["checked"] += 1
        if gap < floor - 0.6:
            breaches.append(
                f"{x.endpoint} {x.kind} {x.status} RA={x.retry_after!r} "
                f"Date={x.date!r}: next request after {gap:.1f} s, floor {floor:.1f} s "
                f"({after.endpoint} {after.kind} at {after.received}); events "
                f"{[e for e in events or [] if x.received - 1 <= e[0] <= after.received]}"
            )
    return breaches
