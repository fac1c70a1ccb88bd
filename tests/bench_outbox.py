"""Benchmark of the outbox's persistence (issue 9, sections 2 and 6). Prints figures.

Not part of the suite and never a timed test. Run it alone with
``.venv/bin/python -m pytest -p no:cacheprovider -q -s tests/bench_outbox.py``;
``scripts/bench`` imports ``measure_outbox``; run alone, it also prints the
alternatives of tests/bench_outbox_alternatives.py.

``async def measure_outbox(hass) -> dict[str, float]`` takes a running Home
Assistant from the test harness whose config directory is a temporary one (this
suite's ``hass`` fixture) and uses the real clock, the real executor and real
files under ``.storage``. It returns:

- ``outbox_durable_s``: the worst time from ``append`` to the record being in
  the journal file (read back from disk every 50 ms), with one record a second
  for ``BENCH_OUTBOX_DURABLE_S`` seconds (default 30) of real time; target <= 10.
- ``outbox_bytes_per_record``: bytes written to the journal per queued record
  over a 10 000-record outage (one record a second: the writer's 5 s timer
  batches 5 records, reproduced by calling ``async_flush`` every 5 records),
  then delivered back to back at 10 records a second (a flush every 50);
  delivery marks, counters and compactions included; target <= 2048.
- ``outbox_physical_bytes_per_record_30s_gap``, ``outbox_fsyncs_per_record_30s_gap``
  (not targets): what the storage device is asked to write per queued record
  (``/proc/self/io`` ``write_bytes``: whole pages, counted when they are
  dirtied) and the ``fsync`` calls, over a 10 000-record outage at the default
  30 s gap (each record flushed alone: the writer's 5 s timer fires between
  two), then delivered as above (a flush every 50); compaction included.
- ``outbox_stall_ms_100k``: the longest event-loop stall caused by persistence
  with 100 000 records queued (the first write of 100 000 records; a drain,
  with records still arriving, that compacts the file with 100 000 live
  records): the CPU time the loop's thread spent between two wake-ups of a
  probe task that sleeps 1 ms in a loop; target <= 10. Waiting for the GIL an
  executor job holds is not CPU time: it adds at most the interpreter's switch
  interval (5 ms) per wake-up, since the journal's jobs hold no long C calls.
- ``outbox_stall_wall_ms_100k``, ``outbox_stall_wall_ms_idle``: the same
  probe's longest wall-clock delay during persistence and while idle: on a
  shared machine both include whatever else runs.
- ``outbox_load_loop_ms_100k``: the event-loop thread's CPU time
  (``time.thread_time``) spent in ``async_load`` of a journal of 100 000
  records (parsing runs in the executor); target <= 50.
- ``outbox_load_stall_wall_ms_100k``: the probe's longest wall-clock delay
  during that load (a full garbage collection triggered by the 100 000 new
  records, in whichever thread allocates, stops every thread).
"""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
import gc
import json
import os
from pathlib import Path
import time
from typing import Any
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from custom_components.flatpeak.api import DeviceState, EnergyFlowDirection
from custom_components.flatpeak.delivery.journal import Journal
from custom_components.flatpeak.delivery.outbox import Outbox

DURABLE_SECONDS = int(os.environ.get("BENCH_OUTBOX_DURABLE_S", "30"))
OUTAGE = 10_000
BIG = 100_000


def record(index: int) -> DeviceState:
    """Return a realistic record (every field set), unique by ``index``."""
    return DeviceState(
        time=dt_util.utcnow() - timedelta(seconds=BIG * 2 - index),
        state_of_charge_percent=float(index % 100),
        target_state_of_charge_percent=80.0,
        battery_power_kw=1.234 + index % 1000 / 1000,
        energy_flow_direction=EnergyFlowDirection.EXPORT,
        energy_remaining_kwh=6.5,
        backup_reserve_percent=20.0,
        record_reference_id=f"ha_{index:032x}",
    )


def new_outbox(hass: HomeAssistant, name: str) -> Outbox:
    return Outbox(hass, name, max_age=timedelta(days=7), max_records=1_000_000)


async def durable_s(hass: HomeAssistant) -> float:
    """Append one record a second; return the worst append-to-disk time."""
    outbox = new_outbox(hass, "bench_durable")
    await outbox.async_load()
    journal = Journal(
        Path(hass.config.path(".storage", "flatpeak.bench_durable.outbox.jsonl"))
    )
    queued: list[float] = []
    worst = 0.0
    start = time.perf_counter()
    on_disk = 0
    while on_disk < DURABLE_SECONDS:
        now = time.perf_counter()
        if len(queued) < DURABLE_SECONDS and now - start >= len(queued):
            outbox.append(record(len(queued)))
            queued.append(time.perf_counter())
        contents = await hass.async_add_executor_job(journal.load)
        seen = time.perf_counter()
        for index in range(on_disk, len(contents.entries)):
            worst = max(worst, seen - queued[index])
        on_disk = len(contents.entries)
        await asyncio.sleep(0.05)
    await outbox.async_close()
    return worst


async def bytes_per_record(hass: HomeAssistant) -> float:
    """Queue OUTAGE records at the timer's cadence, then deliver them all."""
    outbox = new_outbox(hass, "bench_bytes")
    await outbox.async_load()
    for index in range(OUTAGE):
        outbox.append(record(index))
        if index % 5 == 4:
            await outbox.async_flush()
    delivered = 0
    while (head := outbox.peek()) is not None:
        outbox.delivered(head)
        delivered += 1
        if delivered % 50 == 0:
            await outbox.async_flush()
    await outbox.async_close()
    return outbox.bytes_written / OUTAGE


def proc_io(field: str) -> int:
    """Return one counter of this process's I/O (every thread's)."""
    with Path("/proc/self/io").open() as io:
        return next(int(line.split()[1]) for line in io if line.startswith(field))


def physical_bytes() -> int:
    """Return the bytes this process had written to storage (pages dirtied, less
    those truncated before they were written back)."""
    return proc_io("write_bytes") - proc_io("cancelled_write_bytes")


async def physical_per_record(hass: HomeAssistant) -> tuple[float, float]:
    """Return (physical bytes, fsyncs) per record: a flush per record, then the drain."""
    outbox = new_outbox(hass, "bench_physical")
    await outbox.async_load()
    before = physical_bytes()
    with patch.object(os, "fsync", wraps=os.fsync) as fsync:
        for index in range(OUTAGE):
            outbox.append(record(index))
            await outbox.async_flush()
        delivered = 0
        while (head := outbox.peek()) is not None:
            outbox.delivered(head)
            delivered += 1
            if delivered % 50 == 0:
                await outbox.async_flush()
        await outbox.async_close()
    return (physical_bytes() - before) / OUTAGE, fsync.call_count / OUTAGE


async def probe(run: Callable[[], Awaitable[Any]]) -> tuple[float, float, float]:
    """Run ``run``; return the longest loop stall in ms: (wall clock, loop CPU, GC).

    A probe task sleeps 1 ms in a loop. The wall-clock stall is how much later
    than asked it wakes up: persistence on the loop, the GIL an executor job
    holds, and whatever else the machine runs. The CPU stall is the CPU time the
    event loop's thread spent between two wake-ups: only what ran on the loop.
    The third figure is the longest garbage collection meanwhile (in any
    thread: it stops them all).
    """
    wall = cpu = 0.0
    running = True
    collections: list[float] = []

    def collected(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            collections.append(time.perf_counter())
        else:
            collections[-1] = time.perf_counter() - collections[-1]

    async def sleeper() -> None:
        nonlocal wall, cpu
        while running:
            start, start_cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.001)
            wall = max(wall, time.perf_counter() - start - 0.001)
            cpu = max(cpu, time.thread_time() - start_cpu)

    gc.callbacks.append(collected)
    task = asyncio.get_running_loop().create_task(sleeper())
    await asyncio.sleep(0.01)
    await run()
    running = False
    await task
    gc.callbacks.remove(collected)
    return wall * 1000, cpu * 1000, max(collections, default=0) * 1000


async def stall_ms_100k(hass: HomeAssistant) -> dict[str, float]:
    """Return the stall and load figures with 100 000 records queued."""

    async def idle() -> None:
        await asyncio.sleep(5)

    idle_wall, idle_cpu, _ = await probe(idle)
    # Build the outbox without the probe: creating 200 000 records is the
    # benchmark's own cost, not persistence.
    outbox = new_outbox(hass, "bench_big")
    await outbox.async_load()
    records = [record(index) for index in range(3 * BIG)]
    for state in records[:BIG]:
        outbox.append(state)

    async def first_write() -> None:
        await outbox.async_flush()

    async def drain_with_compaction() -> None:
        # Records keep arriving while the backlog drains: 100 000 queued
        # throughout; a flush every 50 deliveries (10 a second, 5 s timer).
        # Of two new records the newer goes at once (the current state), the
        # older joins the backlog, whose oldest record is delivered.
        for index in range(1, BIG + 1):
            outbox.append(records[BIG + 2 * index - 2])
            outbox.append(records[BIG + 2 * index - 1])
            for _ in range(2):
                head = outbox.peek()
                if head is not None:
                    outbox.delivered(head)
            if not index % 50:
                await outbox.async_flush()
        await outbox.async_flush()

    stalls = [await probe(first_write), await probe(drain_with_compaction)]
    await outbox.async_close()
    assert len(outbox) == BIG
    records.clear()
    gc.collect()
    # Loop time of a load, without the probe's own wake-ups.
    fresh = new_outbox(hass, "bench_big")
    before = time.thread_time()
    await fresh.async_load()
    load_cpu = (time.thread_time() - before) * 1000
    assert len(fresh) == BIG
    await fresh.async_close()
    del fresh
    gc.collect()
    again = new_outbox(hass, "bench_big")
    load_wall, _, load_gc = await probe(again.async_load)
    await again.async_close()
    return {
        "outbox_stall_ms_100k": round(max(cpu for _, cpu, _ in stalls), 2),
        "outbox_stall_wall_ms_100k": round(max(wall for wall, _, _ in stalls), 2),
        "outbox_stall_gc_ms_100k": round(max(gc for _, _, gc in stalls), 2),
        "outbox_stall_wall_ms_idle": round(idle_wall, 2),
        "outbox_stall_ms_idle": round(idle_cpu, 2),
        "outbox_load_loop_ms_100k": round(load_cpu, 2),
        "outbox_load_stall_wall_ms_100k": round(load_wall, 2),
        "outbox_load_gc_ms_100k": round(load_gc, 2),
    }


async def measure_outbox(hass: HomeAssistant) -> dict[str, float]:
    """Return the outbox figures (see the module's docstring)."""
    big = await stall_ms_100k(hass)
    physical, fsyncs = await physical_per_record(hass)
    return {
        "outbox_durable_s": round(await durable_s(hass), 2),
        "outbox_bytes_per_record": round(await bytes_per_record(hass), 1),
        "outbox_physical_bytes_per_record_30s_gap": round(physical),
        "outbox_fsyncs_per_record_30s_gap": round(fsyncs, 3),
        **big,
    }


async def test_bench_outbox(hass: HomeAssistant) -> None:
    """Print the figures (pytest entry point)."""
    # Imported here: that module builds on this one.
    from .bench_outbox_alternatives import (
        measure_old_outbox,
        measure_sqlite_alternative,
    )

    hass.loop.set_debug(False)  # the harness runs asyncio in debug mode
    figures = await measure_outbox(hass)
    targets = {
        "outbox_durable_s": 10,
        "outbox_bytes_per_record": 2048,
        "outbox_stall_ms_100k": 10,
        "outbox_load_loop_ms_100k": 50,
    }
    print()
    for name, value in figures.items():
        target = targets.get(name)
        print(f"| {name:<42} | {value:>10} | {'<= ' + str(target) if target else ''}")
    print("BENCH-JSON " + json.dumps(figures))
    print("0.1.0 outbox, for comparison:", json.dumps(measure_old_outbox()))
    alternative = await hass.async_add_executor_job(
        measure_sqlite_alternative, Path(hass.config.config_dir)
    )
    print("stdlib sqlite3 instead of the journal:", json.dumps(alternative))
