"""Benchmark: what the integration costs Home Assistant, and how fast it recovers.

Not part of the suite and never a timed test: run it with `scripts/bench`. It
prints a table with PASS/FAIL per target and one line ``BENCH-JSON {...}``
(issue 9 §6, issue 15 §9), and fails when a target is missed. Environment:
BENCH_CHANGES (changes per storm), BENCH_ROUNDS (paired rounds, >= 8),
BENCH_DRAIN_RECORDS (default 2880), BENCH_DRAIN_LATENCY (default 0.1 s).

Two tests, in this order: ``test_online_hour`` (one simulated hour at the
defaults: the entities' state writes) and ``test_bench`` (everything else, in
real time; it prints the report of both). The drain, the current state after
an outage and the retry floor are measured in real time against the sandbox
(tests/bench_delivery.py), not with a simulated clock.
"""

from dataclasses import dataclass, field
from datetime import timedelta
import gc
import logging
import math
import os
import platform
import statistics
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import MATCH_ALL, __version__ as ha_version
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flatpeak.mapping.battery_mapping import BatteryMapping
from flatpeak_sandbox import FlatpeakSandbox

from .bench_delivery import (
    DRAIN_LATENCY,
    DRAIN_RECORDS,
    outage_and_drain,
    retry_floor,
    setup,
    unload,
)
from .bench_outbox import measure_outbox
from .bench_report import Row, report
from .conftest import POWER, device_options, forget_received, runtime_of, settle
from .entity_writes import WriteCounter, online_hour
from .read_budget import read_requests_per_hour_per_device

CHANGES = int(os.environ.get("BENCH_CHANGES", "20000"))
ROUNDS = max(8, int(os.environ.get("BENCH_ROUNDS", "8")))
ATTRIBUTES = {"unit_of_measurement": "W", "device_class": "power"}
UNMAPPED = "sensor.somebody_elses_power"
WARM_UP = 900.0  # seconds online before the hour whose writes are counted


@dataclass
class Measured:
    """What the module's tests measured: figures (BENCH-JSON) and notes to show."""

    figures: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def measured() -> Measured:
    """Collect the figures of every test of the module (reported by the last)."""
    return Measured()


async def storm(hass: HomeAssistant, entity_id: str, offset: int) -> float:
    """Push CHANGES changes of ``entity_id``; return loop-thread CPU seconds."""
    gc.collect()
    start = time.thread_time()
    for i in range(CHANGES):
        hass.states.async_set(entity_id, str((offset + i) % 5000 - 2500), ATTRIBUTES)
        if i % 1000 == 999:
            await hass.async_block_till_done()
    await hass.async_block_till_done()
    return time.thread_time() - start


async def paired_round(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    entry: MockConfigEntry,
    round_: int,
) -> dict[str, Any]:
    """One round: no-op listeners vs the entry, on the same changes.

    The baselines: a no-op tracker of the mapped entities (the cheapest way
    to follow them) and a no-op listener of every event (``MATCH_ALL``).
    """
    mapped = BatteryMapping.from_options(device_options(entry)).entity_ids

    @callback
    def noop(event: Event[EventStateChangedData]) -> None:
        """Do nothing: the cheapest listener Home Assistant can have."""

    unsub = async_track_state_change_event(hass, mapped, noop)
    noop_cpu = await storm(hass, POWER, round_)
    unmapped_before = await storm(hass, UNMAPPED, round_)
    unsub()
    unsub = hass.bus.async_listen(MATCH_ALL, noop)
    match_all_cpu = await storm(hass, POWER, round_)
    unsub()

    setup_s = await setup(hass, entry)
    runtime = runtime_of(entry)
    before = len(sandbox.requests_to("state"))
    storm_start = dt_util.utcnow()
    loaded_cpu = await storm(hass, POWER, round_)
    unmapped_loaded = await storm(hass, UNMAPPED, round_)
    # Let the change waiting out the minimum gap fall due, then count PUTs.
    gap = runtime.settings.min_interval.total_seconds()
    async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=gap + 1))
    await settle(hass)
    elapsed = (dt_util.utcnow() - storm_start).total_seconds() + gap + 1
    made = len(sandbox.requests_to("state")) - before
    heartbeat = runtime.settings.heartbeat_interval.total_seconds()
    bound = math.ceil(elapsed / gap) + math.ceil(elapsed / heartbeat)
    await unload(hass, entry)
    return {
        "ratio": loaded_cpu / noop_cpu,
        "ratio_match_all": loaded_cpu / match_all_cpu,
        "unmapped_us": (unmapped_loaded - unmapped_before) / CHANGES * 1e6,
        "noop_us": noop_cpu / CHANGES * 1e6,
        "match_all_us": match_all_cpu / CHANGES * 1e6,
        "loaded_us": loaded_cpu / CHANGES * 1e6,
        "setup_ms": setup_s * 1000,
        "puts": made,
        "bound": bound,
    }


@pytest.mark.usefixtures("at_start", "entity_registry_enabled_by_default")
async def test_online_hour(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    measured: Measured,
) -> None:
    """Defaults, a mapped entity changing every 10 s, one simulated hour; every
    entity enabled (as tests/test_entities.py counts them).

    The hour starts 15 minutes after the start, so that it holds one step of
    Last submission's hourly advance wherever it falls.
    """
    await online_hour(hass, freezer, duration=WARM_UP)
    forget_received(sandbox)
    with WriteCounter(hass, init_integration.entry_id) as counter:
        await online_hour(hass, freezer)
    accepted = len(sandbox.states())
    assert accepted >= 120  # a submission every 30 s, and heartbeats
    measured.figures["entity_writes_per_hour_online"] = counter.total
    registry = er.async_get(hass)
    most = ", ".join(
        f"{getattr(registry.async_get(entity), 'translation_key', entity)} {count}"
        for entity, count in counter.writes.most_common(2)
    )
    note = f"{counter.total} ({most}; {accepted} accepted)"
    measured.notes["entity_writes_per_hour_online"] = note
    print(f"\nentity writes, online hour at defaults: {note}")


@pytest.mark.usefixtures("at_start", "battery")
async def test_read_budget(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    measured: Measured,
) -> None:
    """Every read at the defaults over a simulated day (issue 17: <= 12 an hour).

    The figure is the worst hour: the most read requests in any 60 minutes in
    a row (the first hour included), not the day's average. One device alone
    at its location: the most a device costs.
    """
    per_hour = await read_requests_per_hour_per_device(
        hass, freezer, sandbox, ["dev_demo3"]
    )
    measured.figures["read_requests_per_hour_per_device"] = round(per_hour, 2)


async def test_bench(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    battery: None,
    config_entry: MockConfigEntry,
    measured: Measured,
) -> None:
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    logging.getLogger("custom_components.flatpeak").setLevel(logging.ERROR)
    # The HA test harness runs asyncio in debug mode; a real hass does not.
    hass.loop.set_debug(False)
    hass.states.async_set(UNMAPPED, "0", ATTRIBUTES)
    config_entry.add_to_hass(hass)
    rounds = [
        await paired_round(hass, sandbox, config_entry, round_)
        for round_ in range(ROUNDS)
    ]
    waits = await retry_floor(hass, sandbox, config_entry)
    drain_s, current_s, place = await outage_and_drain(hass, sandbox, config_entry)
    outbox = await measure_outbox(hass)

    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in rounds))

    figures: dict[str, Any] = {
        "listener_overhead_vs_noop": round(median("ratio"), 3),
        "listener_overhead_vs_match_all_noop": round(median("ratio_match_all"), 3),
        "unmapped_overhead_us": round(median("unmapped_us"), 3),
        "puts_per_storm_max": max(r["puts"] for r in rounds),
        "puts_bound": min(r["bound"] for r in rounds),
        "setup_ms": round(median("setup_ms"), 1),
        "drain_2880_s_at_100ms": round(drain_s * 2880 / DRAIN_RECORDS, 1),
        "current_state_after_outage_s": round(current_s, 2),
        "retry_floor_s": round(min(waits), 3),
        **measured.figures,
        **outbox,
    }
    writes = measured.notes.get("entity_writes_per_hour_online", "not measured")
    rows: list[Row] = [
        (
            "machine",
            f"{platform.machine()}, {os.cpu_count()} cores, "
            f"load {os.getloadavg()[0]:.2f}",
            "",
        ),
        ("", f"Python {platform.python_version()}, HA {ha_version}", ""),
        ("changes per storm / paired rounds", f"{CHANGES:,} / {ROUNDS}", ""),
        ("no-op tracker: CPU per mapped change", f"{median('noop_us'):.2f} µs", ""),
        (
            "MATCH_ALL no-op: CPU per mapped change",
            f"{median('match_all_us'):.2f} µs",
            "",
        ),
        ("entry loaded: CPU per mapped change", f"{median('loaded_us'):.2f} µs", ""),
        (
            "listener overhead vs no-op tracker (median)",
            f"{figures['listener_overhead_vs_noop']:.3f}",
            "listener_overhead_vs_noop",
        ),
        (
            "listener overhead vs MATCH_ALL no-op (median)",
            f"{figures['listener_overhead_vs_match_all_noop']:.3f}",
            "",
        ),
        (
            "extra CPU per unmapped change",
            f"{figures['unmapped_overhead_us']:.3f} µs",
            "unmapped_overhead_us",
        ),
        (
            "PUTs per storm (max / bound)",
            f"{figures['puts_per_storm_max']} / {figures['puts_bound']}",
            "puts_per_storm_max",
        ),
        (
            "config entry setup, median (loopback)",
            f"{figures['setup_ms']:.1f} ms (min {min(r['setup_ms'] for r in rounds):.1f})",
            "setup_ms",
        ),
        (
            f"drain {DRAIN_RECORDS:,} records, {DRAIN_LATENCY * 1000:.0f} ms round trip",
            f"{drain_s:.1f} s (limit {DRAIN_RECORDS * DRAIN_LATENCY:.0f} s)",
            "drain_2880_s_at_100ms",
        ),
        (
            "first 2xx after the outage -> newest accepted",
            f"{current_s:.2f} s (newest: record #{place} accepted)",
            "current_state_after_outage_s",
        ),
        (
            "shortest wait after 503 Retry-After: 0",
            f"{min(waits):.3f} s (of {len(waits)} waits)",
            "retry_floor_s",
        ),
        (
            "entity writes, online hour at defaults",
            writes,
            "entity_writes_per_hour_online",
        ),
        *((key, str(value), key) for key, value in outbox.items()),
        (
            "read requests per device in the worst hour (a day)",
            str(figures.get("read_requests_per_hour_per_device", "not measured")),
            "read_requests_per_hour_per_device",
        ),
    ]
    failed = report("Flatpeak benchmark", rows, figures)
    assert not failed, f"targets missed: {failed}"
