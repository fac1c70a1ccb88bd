"""Power-cut fuzzer: power cuts and wall-clock steps at random moments.

Not part of the suite (not a ``test_*.py`` file): ``scripts/fuzz cuts``;
FUZZ_SEED, FUZZ_CUTS change the run. A power
cut here: the entry's ``.storage`` files are copied as they are at that
moment (a journal write in flight is copied half written), the entry is
unloaded without its files mattering (what the unload writes is thrown away:
the copy is put back), and the entry starts again on the copy. Meanwhile
Flatpeak goes down and comes back, the battery changes every few seconds, the
wall clock steps forward and back by minutes, hours or days (NTP on a host
without a real-time clock; the monotonic clock goes on), between and across
the cuts, and the action is called now and then. Checked at the end, after a
calm drain:

- every record queued at least 10 s before each cut reached the sandbox
  (the outbox's promise), and every other one too unless a cut came within
  10 s of its queuing; none dropped by the age bound (the run time stays
  below a day);
- a record was sent again only if it was accepted within 10 s before a cut
  (its removal was not yet on disk) or its answer was lost;
- after each start the first record sent is the newest the outbox holds (the
  current state), and the last one Flatpeak received at the end is the newest;
- no heartbeat was stored twice (a step back), no trace, no "Error doing job".
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
import logging
import os
from pathlib import Path
import random
import shutil
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from .conftest import BEHAVIOUR, MAPPING, POWER, SOC, runtime_of, set_battery
from .fuzz_delivery import ErrorLog, dump_tasks_on_signal, fuzzed_entry
from .fuzz_tools import Answer, Driver, FuzzSandbox, Ledger

SEED = int(os.environ.get("FUZZ_SEED", "15"))
CUTS = int(os.environ.get("FUZZ_CUTS", "100"))
START = datetime(2026, 11, 28, 10, 0, 10, tzinfo=UTC)
DURABLE = 10.0  # seconds: queued this long before a cut, a record is on disk
OPTIONS = {**MAPPING, **BEHAVIOUR, "min_interval": 0}


class TwoClocks:
    """The host's clocks: monotonic (timers, the run time) and the wall clock."""

    def __init__(
        self, freezer: FrozenDateTimeFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        self.freezer = freezer
        self.monotonic = 1000.0
        self.stepped = timedelta(0)
        monkeypatch.setattr(time, "monotonic", lambda: self.monotonic)

    def tick(self, seconds: float) -> None:
        self.monotonic += seconds
        self.freezer.tick(timedelta(seconds=seconds))

    def step_wall(self, delta: timedelta) -> None:
        self.stepped += delta
        self.freezer.move_to(datetime.now(UTC) + delta)


class ClockDriver(Driver):
    """The driver, moving both clocks."""

    clocks: TwoClocks

    async def step(self, seconds: float) -> None:
        await self.quiet()
        self.clocks.tick(seconds)
        async_fire_time_changed(self.hass)
        await self.quiet()


async def test_power_cuts_and_clock_steps(  # noqa: C901 - the whole run
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    socket_enabled: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    logging.getLogger("aiohttp").setLevel(logging.CRITICAL)
    dump_tasks_on_signal()
    freezer.move_to(START)
    clocks = TwoClocks(freezer, monkeypatch)
    rng = random.Random(SEED)  # noqa: S311
    down = {"on": False}
    sandbox = FuzzSandbox(
        lambda endpoint, body: Answer("outage", drop=True)
        if down["on"]
        else Answer("ok", real=True)
    )
    await sandbox.start()
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    ledger = Ledger(hass=hass, options=OPTIONS, check_bodies=False)
    ledger.install(monkeypatch)
    real_produced = ledger.produced
    sandbox.produced = lambda: len(real_produced)

    set_battery(hass)
    entry = fuzzed_entry(sandbox, OPTIONS)
    entry.add_to_hass(hass)
    driver = ClockDriver(hass, freezer, sandbox)
    driver.clocks = clocks
    driver.spawn(hass.config_entries.async_setup(entry.entry_id))
    await driver.step(1)
    storage = Path(hass.config.path(".storage"))
    cuts: list[dict[str, Any]] = []
    starts: list[dict[str, Any]] = []  # the first PUT after each start
    steps = Counter[str]()
    problems: list[str] = []

    async def cut() -> None:
        """Copy the files as they are, unload, put the copy back, start again."""
        aside = storage.with_name(".storage-cut")

        def copy() -> None:
            if aside.exists():
                shutil.rmtree(aside)
            if storage.exists():
                shutil.copytree(storage, aside)
            else:
                aside.mkdir()

        await hass.async_add_executor_job(copy)
        outbox = runtime_of(entry).outbox
        cuts.append(
            {
                "at": clocks.monotonic,
                "wall": time.time(),
                "queued": len(outbox),
                "puts": len(sandbox.requests_to("state")),
            }
        )
        cut_at = len(real_produced)
        await hass.config_entries.async_unload(entry.entry_id)
        del real_produced[cut_at:]  # queued by the unload: gone with the power

        def put_back() -> None:
            if storage.exists():
                shutil.rmtree(storage)
            aside.rename(storage)

        await hass.async_add_executor_job(put_back)
        starts.append({"from": len(sandbox.exchanges)})
        driver.spawn(hass.config_entries.async_setup(entry.entry_id))
        await driver.step(0.5)

    for round_ in range(CUTS):
        # Flatpeak down for a while, the battery changing.
        down["on"] = rng.random() < 0.7
        for _ in range(rng.choice([4, 20, 60, 240])):
            if rng.random() < 0.5:
                hass.states.async_set(
                    SOC, str(rng.randint(5, 100)), {"unit_of_measurement": "%"}
                )
            if rng.random() < 0.1:
                hass.states.async_set(
                    POWER,
                    str(rng.randint(-5000, 5000)),
                    {"unit_of_measurement": "W", "device_class": "power"},
                )
            if rng.random() < 0.01:
                delta = timedelta(
                    seconds=rng.choice(
                        [-86400, -3600, -600, -30, 30, 600, 3600, 86400, 3 * 86400]
                    )
                )
                if clocks.stepped + delta < timedelta(days=-2):
                    delta = -delta
                clocks.step_wall(delta)
                steps[str(delta)] += 1
            await driver.step(0.5)
        # Back, and a cut at a random moment of the recovery: before the
        # current state, after it, in the backlog's delay or its drain.
        down["on"] = False
        for _ in range(rng.choice([0, 1, 2, 6, 20, 40, 80])):
            await driver.step(0.5)
        if entry.state is ConfigEntryState.LOADED:
            await cut()
        if round_ % 10 == 0:
            print(
                f"cut {round_}: {len(sandbox.stored())} stored, "
                f"{len(real_produced)} queued",
                flush=True,
            )

    # Calm: everything drains.
    down["on"] = False
    for _ in range(2000):
        await driver.step(1)
        if (
            entry.state is ConfigEntryState.LOADED
            and not runtime_of(entry).outbox
            and not driver.tasks
        ):
            break
    await driver.step(2)
    for _ in range(80):
        await driver.step(0.5)

    stored = [s.body["record_reference_id"] for s in sandbox.stored()]
    queued_at = ledger.produced_at
    lost = [ref for ref in dict.fromkeys(real_produced) if ref not in set(stored)]
    excused = [
        ref
        for ref in lost
        if any(0 <= c["at"] - queued_at[ref] < DURABLE for c in cuts)
    ]
    # Sent again: a PUT of a record whose 2xx arrived whole before, unless a
    # cut came within 10 s after that 2xx (its removal was not on disk yet).
    clean: dict[str, float] = {}
    again = []
    for x in sandbox.exchanges:
        if x.endpoint != "state" or x.ref is None:
            continue
        if x.ref in clean and x.received >= clean[x.ref]:
            if not any(0 <= c["wall"] - clean[x.ref] <= DURABLE for c in cuts):
                again.append(x.ref)
        if x.clean_ok:
            clean[x.ref] = x.at
    # The current state first after each start: the first PUT is the newest
    # record queued and not yet at Flatpeak, unless Flatpeak has a newer one.
    not_first = []
    for start in starts:
        puts = [x for x in sandbox.exchanges[start["from"] :] if x.endpoint == "state"]
        if not puts or puts[0].ref is None:
            continue
        first = puts[0]
        before = {
            x.ref
            for x in sandbox.exchanges
            if x.endpoint == "state" and x.stored and x.received < first.received
        }
        order = {ref: i for i, ref in enumerate(real_produced[: first.produced])}
        waiting = [
            ref
            for ref in order
            if ref not in before
            and not any(0 <= c["at"] - queued_at[ref] < DURABLE for c in cuts)
        ]
        newest_at_flatpeak = max((order[r] for r in before if r in order), default=-1)
        if waiting and order[waiting[-1]] > newest_at_flatpeak:
            # A record queued < 10 s before a cut may have survived it: newer.
            if order.get(first.ref, -1) < order[waiting[-1]]:
                not_first.append(
                    (first.ref, order.get(first.ref), waiting[-1], order[waiting[-1]])
                )
    if stored and real_produced and stored[-1] != real_produced[-1]:
        problems.append("the last record Flatpeak received is not the newest queued")
    figures = {
        "seed": SEED,
        "power cuts": len(cuts),
        "wall-clock steps": ", ".join(f"{k} x{v}" for k, v in steps.items()),
        "records queued": len(set(real_produced)),
        "records at the sandbox": len(stored),
        "lost (queued >= 10 s before a cut)": len(lost) - len(excused),
        "lost (queued < 10 s before a cut)": len(excused),
        "dropped by the bounds": len(ledger.dropped),
        "sent again (not excused by a cut)": len(again),
        "PUTs of a stored record (any cause)": sandbox.duplicates,
        "starts whose first PUT was not the newest": len(not_first),
        "errors and traces logged": len(errors.bad),
    }
    width = max(map(len, figures))
    print("\nPower cuts and clock steps")
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value}")
    for line in problems + errors.bad[:10]:
        print("  PROBLEM", line[:300])
    for ref in list(set(lost) - set(excused))[:10]:
        print("  LOST", ref, queued_at.get(ref), [c["at"] for c in cuts][-5:])
    for pair in not_first[:10]:
        print("  NOT FIRST", pair)
    await hass.config_entries.async_unload(entry.entry_id)
    await sandbox.stop()
    logging.getLogger().removeHandler(errors)
    assert len(lost) == len(excused)
    assert not again
    assert not ledger.dropped
    assert not errors.bad
    assert not problems
    assert not not_first
