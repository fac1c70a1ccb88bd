"""Soak: >= 10 000 state changes through random faults; prints what happened.

Not a timed test and not part of the suite: run it with `scripts/soak`
(SOAK_CHANGES and SOAK_SEED change the run). It fails only when a record was
lost or reached Flatpeak twice.
"""

import logging
import os
import random
import sys
import tracemalloc

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.api import DeviceState
from custom_components.flatpeak.delivery.outbox import Outbox
from flatpeak_sandbox import FlatpeakSandbox

from .conftest import BEHAVIOUR, MAPPING, POWER, SOC, advance, drain, runtime_of

CHANGES = int(os.environ.get("SOAK_CHANGES", "10000"))
SEED = int(os.environ.get("SOAK_SEED", "2026"))


@pytest.fixture
def options() -> dict[str, object]:
    # No minimum gap: every change is a snapshot, the hardest case for the outbox.
    return {**MAPPING, **BEHAVIOUR, "min_interval": 0}


# Per state change: the chance of each fault (the rest of the time, none).
FAULTS = {
    "outage": 0.0005,
    "503": 0.01,
    "429": 0.01,
    "500": 0.01,
    "drop": 0.005,
    "token_expiry": 0.002,
}


def pick_fault(rng: random.Random) -> str | None:
    roll = rng.random()
    for fault, chance in FAULTS.items():
        if roll < chance:
            return fault
        roll -= chance
    return None


async def inject(fault: str, rng: random.Random, sandbox: FlatpeakSandbox) -> int:
    """Script ``fault`` into the sandbox; return how many steps an outage lasts."""
    if fault == "outage":
        await sandbox.stop()
        return rng.randint(10, 600)
    if fault == "503":
        sandbox.fail_next(503, endpoint="state", retry_after=str(rng.randint(1, 30)))
    elif fault == "429":
        sandbox.fail_next(429, rng.randint(1, 5), endpoint="state", retry_after="2")
    elif fault == "500":
        sandbox.fail_next(500, endpoint="state")
    elif fault == "drop":
        sandbox.drop_next(2, endpoint="state")
    else:
        sandbox.expire_tokens()
    return 0


def change_battery(hass: HomeAssistant, rng: random.Random, step: int) -> None:
    """Change the state of charge or the power, alternately."""
    if step % 2:
        hass.states.async_set(
            SOC, str(rng.randint(5, 100)), {"unit_of_measurement": "%"}
        )
    else:
        hass.states.async_set(
            POWER,
            str(rng.randint(-5000, 5000)),
            {"unit_of_measurement": "W", "device_class": "power"},
        )


def deep_size(state: DeviceState) -> int:
    fields = [getattr(state, name) for name in state.__slots__]  # type: ignore[attr-defined]
    return sys.getsizeof(state) + sum(sys.getsizeof(v) for v in fields if v is not None)


async def test_soak(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    # Frozen-clock ticks look like slow callbacks to asyncio's debug mode.
    logging.getLogger("asyncio").setLevel(logging.ERROR)
    rng = random.Random(SEED)  # noqa: S311
    coordinator = runtime_of(init_integration)
    outbox = coordinator.outbox
    produced: list[str] = []
    max_queued = 0
    peak_bytes = 0
    original_append = Outbox.append

    def counting_append(self: Outbox, state: DeviceState) -> None:
        nonlocal max_queued, peak_bytes
        original_append(self, state)
        produced.append(state.record_reference_id or "")
        if len(self) > max_queued:
            max_queued = len(self)
            if max_queued < 100 or max_queued % 100 == 0:
                peak_bytes = max(peak_bytes, sum(deep_size(s) for s in self))

    outbox.append = counting_append.__get__(outbox)  # type: ignore[method-assign]
    faults = dict.fromkeys(FAULTS, 0)
    outage_left = 0
    tracemalloc.start()
    for step in range(CHANGES):
        if outage_left:
            outage_left -= 1
            if not outage_left:
                await sandbox.start()
        elif fault := pick_fault(rng):
            faults[fault] += 1
            outage_left = await inject(fault, rng, sandbox)
        change_battery(hass, rng, step)
        # One change per second; the clock moves in half seconds so that a
        # backlog can drain at its pace (two records a second).
        await advance(hass, freezer, 0.5)
        await advance(hass, freezer, 0.5)
    if not sandbox.running:
        await sandbox.start()
    await advance(hass, freezer, 601)
    await drain(hass, freezer, init_integration, steps=100_000)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    accepted = [body["record_reference_id"] for body in sandbox.states()]
    lost = set(produced) - set(accepted)
    figures = {
        "state changes": CHANGES,
        "faults injected": ", ".join(f"{k} {v}" for k, v in faults.items()),
        "snapshots produced": len(produced),
        "accepted by the API": len(accepted),
        "duplicates at the API": sandbox.duplicates
        + len(accepted)
        - len(set(accepted)),
        "rejected (400/422)": outbox.rejected,
        "dropped by outbox bounds": outbox.dropped,
        "lost": len(lost),
        "max outbox size": max_queued,
        "peak outbox memory (deep size)": f"{peak_bytes / 1024:.0f} KiB",
        "peak traced memory of the run": f"{traced_peak / 1024 / 1024:.1f} MiB",
        "requests to PUT /state": len(sandbox.requests_to("state")),
    }
    width = max(map(len, figures))
    print("\nSoak results (seed", SEED, ")")
    for name, value in figures.items():
        print(f"  {name:<{width}}  {value}")
    assert not lost
    # The current state first, the backlog after it: no global order, but the
    # drain ends with the current state.
    assert accepted[-1] == produced[-1], "the last record is not the current state"
    assert figures["duplicates at the API"] == 0
