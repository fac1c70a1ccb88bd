"""The reads' budget: at most 12 requests per hour per device, at the defaults.

A simulated day (``read_budget.py``, shared with ``scripts/bench``): one
device alone at its location, and two devices at one location (its location
and prices are read once for both).
"""

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest

from flatpeak_sandbox import FlatpeakSandbox

from .read_budget import read_requests_per_hour_per_device

pytestmark = pytest.mark.usefixtures("at_start", "battery")

BUDGET = 12.0  # requests per hour per device (issue 17)


async def test_one_device_within_the_budget(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    per_hour = await read_requests_per_hour_per_device(
        hass, freezer, sandbox, ["dev_demo3"]
    )
    print(f"one device: {per_hour:.3f} read requests per hour")
    # 6 state reads, 4 VPP reads, 2 x 0.5 price reads an hour, the location once.
    assert per_hour == pytest.approx(11.1, abs=0.2)
    assert per_hour <= BUDGET


async def test_two_devices_at_one_location_within_the_budget(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    per_hour = await read_requests_per_hour_per_device(
        hass, freezer, sandbox, ["dev_demo1", "dev_demo2"]
    )
    print(f"two devices at one location: {per_hour:.3f} per hour per device")
    # The location and its prices are read once for both devices.
    assert per_hour == pytest.approx(10.55, abs=0.2)
    assert per_hour <= BUDGET


@pytest.mark.xfail(
    strict=True,
    reason="issue 17 check F3: the budget holds on a day's average only. "
    "Measured in hour 1: 20 requests while every read fails (each of five "
    "reads retries after 15 min), 15 when all is well (the first reads of "
    "the location and prices come on top of 6 state and 4 VPP reads)",
)
async def test_failing_reads_stay_within_the_budget_in_any_hour(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    for endpoint in ("state_read", "vpp_participations", "prices", "location"):
        sandbox.fail_next(500, 10_000, endpoint=endpoint)
    per_hour = await read_requests_per_hour_per_device(
        hass, freezer, sandbox, ["dev_demo3"], hours=1
    )
    print(f"one device, every read failing: {per_hour:.0f} read requests in hour 1")
    assert per_hour <= BUDGET
