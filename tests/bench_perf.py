"""Benchmark: what the integration costs Home Assistant, and how fast it recovers.

Not part of the suite and never a timed test: run it with `scripts/bench`. It
prints a table and one line ``BENCH-JSON {...}`` (issue 9 §6). Environment:
BENCH_CHANGES (changes per storm), BENCH_ROUNDS (paired rounds, >= 8),
BENCH_DRAIN_RECORDS (default 2880), BENCH_DRAIN_LATENCY (default 0.1 s).

The drain is measured in real time against the sandbox with its latency fault
(every request answered after BENCH_DRAIN_LATENCY), not with a simulated clock.
"""

import asyncio
from datetime import UTC, datetime, timedelta
import gc
import json
import logging
import math
import os
import platform
import statistics
import time
from typing import Any
from unittest.mock import patch

from freezegun import freeze_time
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flatpeak.api import DeviceState, EnergyFlowDirection
from custom_components.flatpeak.mapping import BatteryMapping
from flatpeak_sandbox import FlatpeakSandbox

from .bench_outbox import measure_outbox
from .conftest import POWER, START, device_options, runtime_of, settle
from .read_budget import read_requests_per_hour_per_device

# Issue 9's targets for the outbox figures (the others are diagnostic).
OUTBOX_TARGETS = {
    "outbox_durable_s": "<= 10",
    "outbox_bytes_per_record": "<= 2048",
    "outbox_stall_ms_100k": "<= 10",
    "outbox_load_loop_ms_100k": "<= 50",
}
CHANGES = int(os.environ.get("BENCH_CHANGES", "20000"))
ROUNDS = max(8, int(os.environ.get("BENCH_ROUNDS", "8")))
DRAIN_RECORDS = int(os.environ.get("BENCH_DRAIN_RECORDS", "2880"))
DRAIN_LATENCY = float(os.environ.get("BENCH_DRAIN_LATENCY", "0.1"))
ATTRIBUTES = {"unit_of_measurement": "W", "device_class": "power"}
UNMAPPED = "sensor.somebody_elses_power"


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


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> float:
    start = time.perf_counter()
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    elapsed = time.perf_counter() - start
    await settle(hass)
    return elapsed


async def unload(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    assert await hass.config_entries.async_unload(entry.entry_id)
    await settle(hass)


async def paired_round(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    entry: MockConfigEntry,
    round_: int,
) -> dict[str, Any]:
    """One round: no-op listener vs the entry, on the same changes."""
    mapped = BatteryMapping.from_options(device_options(entry)).entity_ids

    @callback
    def noop(event: Event[EventStateChangedData]) -> None:
        """Do nothing: the cheapest listener Home Assistant can have."""

    unsub = async_track_state_change_event(hass, mapped, noop)
    noop_cpu = await storm(hass, POWER, round_)
    unmapped_before = await storm(hass, UNMAPPED, round_)
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
        "unmapped_us": (unmapped_loaded - unmapped_before) / CHANGES * 1e6,
        "noop_us": noop_cpu / CHANGES * 1e6,
        "loaded_us": loaded_cpu / CHANGES * 1e6,
        "setup_ms": setup_s * 1000,
        "puts": made,
        "bound": bound,
    }


def record(index: int, now: datetime) -> DeviceState:
    return DeviceState(
        time=now - timedelta(seconds=29 * (DRAIN_RECORDS - index)),
        state_of_charge_percent=float(index % 100),
        target_state_of_charge_percent=80.0,
        battery_power_kw=1.5,
        energy_flow_direction=EnergyFlowDirection.EXPORT,
        record_reference_id=f"ha_bench{index:026d}",
    )


async def drain(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, entry: MockConfigEntry
) -> float:
    """Queue DRAIN_RECORDS during an outage; return seconds to deliver them all."""
    await setup(hass, entry)
    runtime = runtime_of(entry)
    sandbox.outage = True
    now = dt_util.utcnow()
    for index in range(DRAIN_RECORDS):
        runtime.sender.enqueue(record(index, now))
    await settle(hass)
    assert len(runtime.outbox) >= DRAIN_RECORDS
    sandbox.outage = False
    sandbox.latency = DRAIN_LATENCY
    before = len(sandbox.states())
    start = time.perf_counter()
    # The backlog's random delay (0-30 s, so that homes do not all drain in
    # the same second) is by design, not throughput: left out of this figure.
    with patch("custom_components.flatpeak.backlog.backlog_delay", return_value=0.0):
        runtime.sender.retry_now()
        while len(sandbox.states()) - before < DRAIN_RECORDS:
            await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - start
    sandbox.latency = 0.0
    await unload(hass, entry)
    return elapsed


async def read_budget(hass: HomeAssistant, sandbox: FlatpeakSandbox) -> dict[str, Any]:
    """Return ``read_requests_per_hour_per_device`` (issue 17: <= 12).

    Every read at the defaults over a simulated day (the frozen clock), for
    one device alone at its location: the most a device costs.
    """
    with freeze_time(START) as frozen:
        per_hour = await read_requests_per_hour_per_device(
            hass, frozen, sandbox, ["dev_demo3"]
        )
    return {"read_requests_per_hour_per_device": round(per_hour, 2)}


async def test_bench(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    battery: None,
    config_entry: MockConfigEntry,
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
    drain_s = await drain(hass, sandbox, config_entry)
    outbox = await measure_outbox(hass)
    reads = await read_budget(hass, sandbox)

    def median(key: str) -> float:
        return float(statistics.median(r[key] for r in rounds))

    figures: dict[str, Any] = {
        "listener_overhead_vs_noop": round(median("ratio"), 3),
        "unmapped_overhead_us": round(median("unmapped_us"), 3),
        "puts_per_storm_max": max(r["puts"] for r in rounds),
        "puts_bound": min(r["bound"] for r in rounds),
        "setup_ms": round(min(r["setup_ms"] for r in rounds), 1),
        "drain_2880_s_at_100ms": round(drain_s * 2880 / DRAIN_RECORDS, 1),
        **outbox,
        **reads,
    }
    rows = [
        (
            "machine",
            f"{platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}",
            "",
        ),
        ("changes per storm / paired rounds", f"{CHANGES:,} / {ROUNDS}", ""),
        ("no-op listener: CPU per mapped change", f"{median('noop_us'):.2f} µs", ""),
        ("entry loaded: CPU per mapped change", f"{median('loaded_us'):.2f} µs", ""),
        (
            "listener overhead vs no-op (median ratio)",
            f"{figures['listener_overhead_vs_noop']:.3f}",
            "<= 1.10",
        ),
        (
            "extra CPU per unmapped change",
            f"{figures['unmapped_overhead_us']:.3f} µs",
            "<= 0.2 µs",
        ),
        (
            "PUTs per storm (max / bound)",
            f"{figures['puts_per_storm_max']} / {figures['puts_bound']}",
            "max <= bound",
        ),
        ("config entry setup (loopback)", f"{figures['setup_ms']:.1f} ms", "< 50 ms"),
        (
            f"drain {DRAIN_RECORDS:,} records, {DRAIN_LATENCY * 1000:.0f} ms round trip",
            f"{drain_s:.1f} s (limit {DRAIN_RECORDS * DRAIN_LATENCY:.0f} s)",
            "<= 320 s for 2 880",
        ),
        *(
            (key, str(value), OUTBOX_TARGETS.get(key, ""))
            for key, value in outbox.items()
        ),
        (
            "read_requests_per_hour_per_device (a day)",
            str(reads["read_requests_per_hour_per_device"]),
            "<= 12",
        ),
    ]
    print(f"\nFlatpeak benchmark, {datetime.now(UTC):%Y-%m-%d}")
    print(f"| {'figure':<44} | {'value':<34} | {'target':<18} |")
    print(f"|{'-' * 46}|{'-' * 36}|{'-' * 20}|")
    for name, value, target in rows:
        print(f"| {name:<44} | {value:<34} | {target:<18} |")
    print("BENCH-JSON " + json.dumps(figures, sort_keys=True))
    assert figures["puts_per_storm_max"] <= figures["puts_bound"]
