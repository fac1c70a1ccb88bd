"""The reads' budget: at most 12 requests per hour per device, at the defaults.

In any 60 minutes (the first hour included), not only on a day's average.
A simulated run (``read_budget.py``, shared with ``scripts/bench``): one
device alone at its location, and two devices at one location (its location
and prices are read once for both); all well, every read failing (500), and
every read rate limited (429 without ``Retry-After``).
"""

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest

from flatpeak_sandbox import FlatpeakSandbox

from ..conftest import account_with, advance
from ..read_budget import read_budget

pytestmark = pytest.mark.usefixtures("at_start", "battery")

BUDGET = 12.0  # requests per hour per device (issue 17)
READS = ("state_read", "vpp_participations", "prices", "location")
ONE = ["dev_demo3"]
TWO = ["dev_demo1", "dev_demo2"]  # one location


@pytest.mark.parametrize(
    ("devices", "hours", "average", "worst"),
    [
        # 4 state + 4 VPP reads an hour, each price every 2 h; in the first
        # hour the location and both prices on top (4 + 4 + 1 + 2).
        (ONE, 24, 9.1, 11.0),
        # The location and its prices are read once for both devices.
        (TWO, 24, 8.55, 9.5),
    ],
    ids=["one device", "two devices at one location"],
)
async def test_all_well_within_the_budget_in_any_hour(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    devices: list[str],
    hours: int,
    average: float,
    worst: float,
) -> None:
    budget = await read_budget(hass, freezer, sandbox, devices, hours=hours)
    print(f"{devices}: {budget}")
    assert budget.per_hour == pytest.approx(average, abs=0.2)
    assert budget.worst_hour == worst
    assert budget.worst_hour <= BUDGET


@pytest.mark.parametrize("status", [500, 429])
@pytest.mark.parametrize(
    ("devices", "worst"),
    # Each read fails at 0, 15 and 45 min (then 1 h 45, every 2 h): the
    # state, the VPP participations and the location 3 times each; the
    # prices are not asked while their location fails.
    [(ONE, 9.0), (TWO, 7.5)],
    ids=["one device", "two devices at one location"],
)
async def test_failing_reads_stay_within_the_budget_in_any_hour(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    devices: list[str],
    worst: float,
    status: int,
) -> None:
    for endpoint in READS:
        sandbox.fail_next(status, 10_000, endpoint=endpoint)  # no Retry-After
    budget = await read_budget(hass, freezer, sandbox, devices, hours=4)
    print(f"{devices}, every read answering {status}: {budget}")
    assert budget.worst_hour == worst
    assert budget.worst_hour <= BUDGET
    assert budget.worst_hour_starts == 0
    assert not [r for r in sandbox.requests if r.endpoint == "prices"]


async def test_prices_wait_for_their_location_then_come_at_once(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    sandbox.fail_next(500, 1, endpoint="location")
    entry = account_with(sandbox, *ONE)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await advance(hass, freezer, 60)
    assert [r.status for r in sandbox.requests if r.endpoint == "location"] == [500]
    assert not [r for r in sandbox.requests if r.endpoint == "prices"]
    await advance(hass, freezer, 14 * 60)  # the location's retry, 15 min on
    await advance(hass, freezer, 60)
    assert [r.status for r in sandbox.requests if r.endpoint == "location"] == [
        500,
        200,
    ]
    assert [r.status for r in sandbox.requests if r.endpoint == "prices"] == [200, 200]
    (price,) = [
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.unique_id.endswith("import_price")
    ]
    state = hass.states.get(price)
    assert state is not None
    assert state.state not in ("unavailable", "unknown")
    assert await hass.config_entries.async_unload(entry.entry_id)


async def test_no_tariff_connected_stays_within_the_budget_in_any_hour(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    """A 422 "no tariff connected" for both directions: asked hourly, then every 2 h."""
    for direction in ("IMPORT", "EXPORT"):
        sandbox.reads.apply_control({"tariff": "not_connected", "direction": direction})
    budget = await read_budget(hass, freezer, sandbox, ONE, hours=4)
    print(f"one device, no tariff connected: {budget}")
    # 4 state, 4 VPP, the location, each direction once (a retry after 15
    # and 45 min made it 15); each direction at 0, 1, 2 and 3 h.
    assert budget.worst_hour == 11.0
    assert [r.status for r in sandbox.requests if r.endpoint == "prices"] == [422] * 8


@pytest.mark.parametrize("status", [500, 429])
async def test_failing_prices_stay_within_the_budget_in_any_hour(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    status: int,
) -> None:
    """The location answers, both price reads fail: asked again after an hour,
    then every 2 h (the slots known are shown meanwhile)."""
    sandbox.fail_next(status, 10_000, endpoint="prices")
    budget = await read_budget(hass, freezer, sandbox, ONE, hours=4)
    print(f"one device, prices answering {status}: {budget}")
    # 4 state, 4 VPP, the location, each direction once in the first hour.
    assert budget.worst_hour == 11.0
    assert budget.worst_hour <= BUDGET
