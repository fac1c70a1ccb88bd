"""Benchmark: what the integration costs Home Assistant. Prints a table.

Not part of the suite and never a timed test: run it with `scripts/bench`
(BENCH_CHANGES changes the storm size). Targets: overhead ratio <= 1.05,
requests <= the policy's bound, setup < 50 ms, outbox of 10 000 records < 10 MB.
"""

import cProfile
from datetime import UTC, datetime, timedelta
import gc
import logging
import math
import os
import platform
import pstats
import time
import tracemalloc
from typing import Any

from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import HomeAssistant, callback
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flatpeak.api import DeviceState, EnergyFlowDirection
from custom_components.flatpeak.outbox import Outbox
from flatpeak_sandbox import FlatpeakSandbox

from .conftest import POWER, settle

CHANGES = int(os.environ.get("BENCH_CHANGES", "100000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
PROFILE = bool(os.environ.get("BENCH_PROFILE"))
ATTRIBUTES = {"unit_of_measurement": "W", "device_class": "power"}


async def storm(hass: HomeAssistant, offset: int) -> float:
    """Push CHANGES power changes as fast as Home Assistant takes them."""
    gc.collect()
    start = time.perf_counter()
    for i in range(CHANGES):
        hass.states.async_set(POWER, str((offset + i) % 5000 - 2500), ATTRIBUTES)
        if i % 1000 == 999:
            await hass.async_block_till_done()
    await hass.async_block_till_done()
    return time.perf_counter() - start


async def outbox_memory(hass: HomeAssistant) -> tuple[float, int]:
    """Return the bytes allocated for an outbox holding 10 000 records."""
    gc.collect()
    tracemalloc.start()
    outbox = Outbox(hass, "bench", max_age=timedelta(days=1), max_records=10_000)
    now = dt_util.utcnow()
    before, _ = tracemalloc.get_traced_memory()
    for i in range(10_000):
        outbox.append(
            DeviceState(
                time=now - timedelta(seconds=10_000 - i),
                state_of_charge_percent=float(i % 100),
                target_state_of_charge_percent=80.0,
                battery_power_kw=1.234 + i / 1000,
                energy_flow_direction=EnergyFlowDirection.EXPORT,
                energy_remaining_kwh=6.5,
                backup_reserve_percent=20.0,
                record_reference_id=f"ha_{i:032x}",
            )
        )
    await outbox.async_flush()  # what stays in memory once written
    after, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    await outbox.async_close()
    return after - before, len(outbox)


async def measure(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, entry: MockConfigEntry
) -> dict[str, Any]:
    """Alternate storms without and with the entry; return the figures."""
    without: list[float] = []
    with_entry: list[float] = []
    setups: list[float] = []
    bounds: list[tuple[int, int]] = []
    for round_ in range(ROUNDS):
        without.append(await storm(hass, round_))
        start = time.perf_counter()
        assert await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        setups.append(time.perf_counter() - start)
        await settle(hass)
        coordinator = entry.runtime_data
        before = len(sandbox.requests_to("state"))
        storm_start = dt_util.utcnow()
        if PROFILE and round_ == 0:
            profiler = cProfile.Profile()
            profiler.enable()
            with_entry.append(await storm(hass, round_))
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(18)
        else:
            with_entry.append(await storm(hass, round_))
        # Let the pending snapshot (minimum gap) fall due, then count requests.
        gap = coordinator.min_interval.total_seconds()
        async_fire_time_changed(hass, dt_util.utcnow() + timedelta(seconds=gap + 1))
        await settle(hass)
        elapsed = (dt_util.utcnow() - storm_start).total_seconds() + gap + 1
        made = len(sandbox.requests_to("state")) - before
        heartbeat = coordinator.heartbeat_interval.total_seconds()
        allowed = math.ceil(elapsed / gap) + math.ceil(elapsed / heartbeat)
        bounds.append((made, allowed))
        assert await hass.config_entries.async_unload(entry.entry_id)
        await settle(hass)
    return {
        "base": min(without),
        "loaded": min(with_entry),
        "setup": min(setups),
        "bounds": bounds,
    }


async def test_bench(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    battery: None,
    config_entry: MockConfigEntry,
) -> None:
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    # The HA test harness runs asyncio in debug mode; a real hass does not.
    hass.loop.set_debug(False)
    config_entry.add_to_hass(hass)
    bare = await measure(hass, sandbox, config_entry)
    # Every real Home Assistant has state_changed listeners (recorder, logbook,
    # the frontend's subscriptions), so it builds each Event object anyway.
    unsub = hass.bus.async_listen(EVENT_STATE_CHANGED, callback(lambda event: None))
    real = await measure(hass, sandbox, config_entry)
    unsub()
    memory, records = await outbox_memory(hass)

    def per_change(seconds: float) -> str:
        return f"{seconds / CHANGES * 1e6:.2f} µs"

    rows = [
        (
            "machine",
            f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
            "",
        ),
        ("state changes per storm", f"{CHANGES:,} (best of {ROUNDS})", ""),
        ("bare harness: per change, no entry", per_change(bare["base"]), ""),
        ("bare harness: per change, loaded", per_change(bare["loaded"]), ""),
        (
            "bare harness: overhead ratio",
            f"{bare['loaded'] / bare['base']:.3f}",
            "<= 1.05",
        ),
        ("with a recorder-like listener: no entry", per_change(real["base"]), ""),
        ("with a recorder-like listener: loaded", per_change(real["loaded"]), ""),
        (
            "with a recorder-like listener: ratio",
            f"{real['loaded'] / real['base']:.3f}",
            "<= 1.05",
        ),
        (
            "PUTs per storm (made / bound)",
            ", ".join(f"{m}/{a}" for m, a in bare["bounds"] + real["bounds"]),
            "made <= bound",
        ),
        (
            "config entry setup (loopback)",
            f"{min(bare['setup'], real['setup']) * 1000:.1f} ms",
            "< 50 ms",
        ),
        (
            f"outbox memory, {records:,} records",
            f"{memory / 1024 / 1024:.2f} MB",
            "< 10 MB",
        ),
    ]
    print(f"\nFlatpeak benchmark, {datetime.now(UTC):%Y-%m-%d}")
    print(f"| {'figure':<40} | {'value':<36} | {'target':<13} |")
    print(f"|{'-' * 42}|{'-' * 38}|{'-' * 15}|")
    for name, value, target in rows:
        print(f"| {name:<40} | {value:<36} | {target:<13} |")
    assert all(made <= allowed for made, allowed in bare["bounds"] + real["bounds"])
