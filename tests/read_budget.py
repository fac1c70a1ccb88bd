"""The request budget of the reads, counted on a simulated clock at the defaults.

Shared by the suite (tests/test_read_budget.py) and the benchmark
(``read_requests_per_hour_per_device``, the worst hour): an account with the
given devices runs for ``hours`` on the simulated clock, the battery changing
every minute (so every read that waits for deliveries has them), and the
sandbox counts every read request: the state Flatpeak holds, the VPP
participations, the locations, the prices, and any lookup of a device after
the one at start (that one is delivery's). The count after each simulated
minute gives the average and the worst sliding hour (any 60 minutes, the
first included).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from homeassistant.core import HomeAssistant

from flatpeak_sandbox import FlatpeakSandbox

from .conftest import account_with, advance, set_soc, settle

READ_ENDPOINTS = ("state_read", "location", "vpp_participations", "prices", "device")
MINUTE = 60.0
HOUR = 60  # minutes


def read_requests(sandbox: FlatpeakSandbox) -> int:
    """Return how many read requests the sandbox received so far."""
    return sum(1 for r in sandbox.requests if r.endpoint in READ_ENDPOINTS)


@dataclass(frozen=True, slots=True)
class ReadBudget:
    """What the reads of an account cost, per device."""

    per_hour: float  # on average over the whole run
    worst_hour: float  # in the worst 60 minutes in a row
    worst_hour_starts: int  # minutes after setup


async def read_budget(
    hass: HomeAssistant,
    freezer: Any,
    sandbox: FlatpeakSandbox,
    device_ids: list[str],
    *,
    hours: int = 24,
) -> ReadBudget:
    """Run an account of ``device_ids`` for ``hours``; return its reads per device."""
    entry = account_with(sandbox, *device_ids)
    before = read_requests(sandbox)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    # counts[m]: read requests sent up to simulated minute m (timers fire at
    # whole minutes); the lookup of each device at start is delivery's.
    counts: list[int] = []
    for minute in range(hours * HOUR):
        set_soc(hass, 40 + minute % 20)
        await settle(hass)
        counts.append(read_requests(sandbox) - before - len(device_ids))
        await advance(hass, freezer, MINUTE)
    assert await hass.config_entries.async_unload(entry.entry_id)
    # The window from minute ``start`` holds minutes start .. start + 59.
    windows = [
        counts[start + HOUR - 1] - (counts[start - 1] if start > 0 else 0)
        for start in range(len(counts) - HOUR + 1)
    ]
    worst = max(windows)
    devices = len(device_ids)
    return ReadBudget(
        per_hour=counts[-1] / hours / devices,
        worst_hour=worst / devices,
        worst_hour_starts=windows.index(worst),
    )


async def read_requests_per_hour_per_device(
    hass: HomeAssistant,
    freezer: Any,
    sandbox: FlatpeakSandbox,
    device_ids: list[str],
    *,
    hours: int = 24,
) -> float:
    """Run an account of ``device_ids``; return its reads in the worst hour, per device."""
    budget = await read_budget(hass, freezer, sandbox, device_ids, hours=hours)
    return budget.worst_hour
