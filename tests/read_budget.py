"""The request budget of the reads, counted over a simulated day at the defaults.

Shared by the suite (tests/test_read_budget.py) and the benchmark
(``read_requests_per_hour_per_device``): an account with the given devices
runs for ``hours`` on the simulated clock, the battery changing every minute
(so every read that waits for deliveries has them), and the sandbox counts
every read request: the state Flatpeak holds, the VPP participations, the
locations, the prices, and any lookup of a device after the one at start
(that one is delivery's).
"""

from __future__ import annotations

from typing import Any

from homeassistant.core import HomeAssistant

from flatpeak_sandbox import FlatpeakSandbox

from .conftest import account_with, advance, set_soc

READ_ENDPOINTS = ("state_read", "location", "vpp_participations", "prices", "device")
MINUTE = 60.0


def read_requests(sandbox: FlatpeakSandbox) -> int:
    """Return how many read requests the sandbox received so far."""
    return sum(1 for r in sandbox.requests if r.endpoint in READ_ENDPOINTS)


async def read_requests_per_hour_per_device(
    hass: HomeAssistant,
    freezer: Any,
    sandbox: FlatpeakSandbox,
    device_ids: list[str],
    *,
    hours: int = 24,
) -> float:
    """Run an account of ``device_ids`` for ``hours``; return its reads per hour per device."""
    entry = account_with(sandbox, *device_ids)
    before = read_requests(sandbox)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    for minute in range(hours * 60):
        set_soc(hass, 40 + minute % 20)
        await advance(hass, freezer, MINUTE)
    # The lookup of each device at start is delivery's (it was there before).
    count = read_requests(sandbox) - before - len(device_ids)
    assert await hass.config_entries.async_unload(entry.entry_id)
    return count / hours / len(device_ids)
