"""No entity state can break a snapshot: every mapped field fed awkward states.

Each test sets the entry up against the sandbox, writes one mapped entity's
state after another through the state machine, moves the clock past the
change's minimum gap, and checks what happened against what Home Assistant
itself makes of the state (``float()`` and finite, as the sensor platform,
the ``numeric_state`` condition and the template ``is_number`` test do):

- nothing raised out of a callback (no "Error doing job", no traceback);
- a required value that is no usable number sends nothing and the status
  says ``invalid_data`` (or ``waiting_for_data``) naming the entity;
- an optional one is left out of a body that is sent anyway;
- every body the sandbox received passed its schema check, has no ``-0.0``
  and no direction at zero power, and the status says ``ok``.
"""

from collections.abc import Iterator
from dataclasses import dataclass
import logging
import math
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import (
    MAX_LENGTH_STATE_STATE,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
    UnitOfEnergy,
    UnitOfPower,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import InvalidStateError, ServiceValidationError
from homeassistant.util.unit_conversion import EnergyConverter, PowerConverter
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.const import (
    CONF_ENERGY_ENTITY,
    CONF_POWER_ENTITY,
    CONF_RESERVE_ENTITY,
    CONF_RESERVE_PERCENT,
    CONF_SOC_ENTITY,
    DOMAIN,
)
from custom_components.flatpeak.mapping.batteries import CONF_CAPACITY, battery_key
from flatpeak_sandbox import FlatpeakSandbox

from ..conftest import (
    BEHAVIOUR,
    ENERGY,
    MAPPING,
    POWER,
    RESERVE,
    SOC,
    TARGET,
    advance,
    entity_id,
    forget_received,
    runtime_of,
    set_battery,
    state_of,
)

pytestmark = pytest.mark.usefixtures("at_start")
# Every test but the one that plants a bug: nothing may be logged with a trace.
checked = pytest.mark.usefixtures("no_exception_logged")

SOC_2 = "sensor.garage_soc"
POWER_2 = "sensor.garage_power"
ENERGY_2 = "sensor.garage_energy"

# States a sensor, a template or an integration with a bug can report.
AWKWARD_STATES = (
    "nan",
    "NaN",
    "inf",
    "-inf",
    "Infinity",
    "1e308",
    "-1e308",
    "1e306",
    "1.5e305",
    "1e302",
    "-0",
    "-0.0",
    "",
    " 5 ",
    "0x10",
    "1_000",
    "１００",  # full-width digits  # noqa: RUF001
    "5,5",
    "1" * MAX_LENGTH_STATE_STATE,
    "x" * 10_000,  # an entity's write stores it as "unknown"
    "unavailable",
    "1e-320",
)
# A sound state in each unit.
SOUND = {"%": "50", "W": "1500", "MW": "0.0015", "kWh": "6.5", "MWh": "0.0065"}
FIELDS = {
    "soc": "state_of_charge_percent",
    "target": "target_state_of_charge_percent",
    "reserve": "backup_reserve_percent",
    "power": "battery_power_kw",
    "energy": "energy_remaining_kwh",
}


@dataclass(frozen=True)
class Field:
    """A mapped entity, the unit it reports in, and which value it feeds."""

    entity_id: str
    unit: str
    kind: str  # a key of FIELDS

    @property
    def required(self) -> bool:
        return self.kind in ("soc", "target")

    def usable(self, number: float | None) -> bool:
        """Return whether the snapshot can use ``number`` (None: no number)."""
        if number is None:
            return False
        if self.unit == "%":
            return -1 <= number <= 101
        converted = self.convert(number)
        return math.isfinite(converted) and (self.kind == "power" or converted >= 0)

    def convert(self, number: float) -> float:
        """Return ``number`` in kW or kWh, as Home Assistant converts it.

        Home Assistant converts through the base unit (W, Wh): 1.5e305 MW
        overflows there although it would be a finite number of kW.
        """
        if self.kind == "power":
            return PowerConverter.convert(number, self.unit, UnitOfPower.KILO_WATT)
        return EnergyConverter.convert(number, self.unit, UnitOfEnergy.KILO_WATT_HOUR)


def as_home_assistant_stores(state: str) -> str:
    """Return the state the state machine keeps (too long: unknown)."""
    return STATE_UNKNOWN if len(state) > MAX_LENGTH_STATE_STATE else state


def as_number(state: str) -> float | None:
    """Return the number Home Assistant sees in ``state`` (None: not a number)."""
    try:
        number = float(state)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


@pytest.fixture
def batteries() -> int:
    """Return how many batteries the entry maps (parametrized by the tests)."""
    return 1


@pytest.fixture
def options(batteries: int) -> dict[str, Any]:
    """Map every field to an entity; the second battery has half the capacity."""
    options: dict[str, Any] = {**MAPPING, **BEHAVIOUR, CONF_RESERVE_ENTITY: RESERVE}
    del options[CONF_RESERVE_PERCENT]
    if batteries == 2:
        options |= {
            CONF_CAPACITY: 10,
            battery_key(CONF_SOC_ENTITY, 1): SOC_2,
            battery_key(CONF_POWER_ENTITY, 1): POWER_2,
            battery_key(CONF_ENERGY_ENTITY, 1): ENERGY_2,
            battery_key(CONF_CAPACITY, 1): 5,
        }
    return options


def set_entity(hass: HomeAssistant, field: Field, state: str) -> None:
    """Write ``state`` as an entity's write does (too long: unknown, and logged)."""
    attributes = {"unit_of_measurement": field.unit}
    if len(state) > MAX_LENGTH_STATE_STATE:
        with pytest.raises(InvalidStateError):
            hass.states.async_set(field.entity_id, state, attributes)
    hass.states.async_set(field.entity_id, as_home_assistant_stores(state), attributes)


@pytest.fixture
def battery(hass: HomeAssistant) -> None:
    """Give both batteries their initial states (the second one is not always mapped)."""
    set_battery(hass)
    set_entity(hass, Field(SOC_2, "%", "soc"), "30")
    set_entity(hass, Field(POWER_2, "W", "power"), "-500")
    set_entity(hass, Field(ENERGY_2, "kWh", "energy"), "1.5")


@pytest.fixture
def no_exception_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Fail when anything raised out of a callback or was logged with a trace."""
    caplog.set_level(logging.DEBUG)
    yield
    found = [
        record.getMessage()
        for record in (*caplog.get_records("setup"), *caplog.get_records("call"))
        if record.exc_info or "Error doing job" in record.getMessage()
    ]
    assert found == []


def check_bodies(sandbox: FlatpeakSandbox, sent_from: int) -> list[dict[str, Any]]:
    """Return the bodies sent since ``sent_from``; each one was accepted as valid."""
    requests = sandbox.requests_to("state")[sent_from:]
    for request in requests:
        assert request.status == 200, (request.status, request.body)
        body = request.body
        for name, value in body.items():
            if isinstance(value, float):
                assert math.isfinite(value), (name, body)
                assert math.copysign(1, value) > 0 or value != 0, ("-0.0", name, body)
        if body.get("battery_power_kw", 0) == 0:
            assert "energy_flow_direction" not in body, body
    return [request.body for request in requests]


async def feed_every_state(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    sandbox: FlatpeakSandbox,
    field: Field,
    others: float | None,
) -> None:
    """Write each awkward state to ``field`` and check what happened.

    ``others`` is the sum of the other batteries' values of a power or energy
    field, in kW or kWh (None: the value sent is not checked, e.g. a weighted
    state of charge).
    """
    set_entity(hass, field, SOUND[field.unit])
    await advance(hass, freezer, 31)
    name = FIELDS[field.kind]
    for written in AWKWARD_STATES:
        sent_from = len(sandbox.requests_to("state"))
        set_entity(hass, field, written)
        await advance(hass, freezer, 31)
        state = as_home_assistant_stores(written)
        number = as_number(state)
        bodies = check_bodies(sandbox, sent_from)
        status = state_of(hass, "submission_status")
        case = (field, written, status, bodies)
        if field.required and not field.usable(number):
            waiting = state in (STATE_UNKNOWN, STATE_UNAVAILABLE)
            expected_status = "waiting_for_data" if waiting else "invalid_data"
            assert bodies == [], case
            assert status == expected_status, case
            last_error = hass.states.get(entity_id(hass, "last_error"))
            assert last_error is not None
            assert last_error.state == expected_status, case
            assert last_error.attributes["unreadable_entity"] == field.entity_id, case
            continue
        if not bodies:
            # A snapshot equal to the record Flatpeak has (the same time and
            # values, e.g. a heartbeat in the same instant) is not sent again.
            bodies = sandbox.states()[-1:]
            assert bodies, case
            written_at = hass.states.get(field.entity_id)
            assert written_at is not None
            assert bodies[0]["time"] == written_at.last_updated.strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            ), case
        assert status in ("ok", "pending"), case
        body = bodies[-1]
        if not field.usable(number):
            assert name not in body, case
            if field.kind == "power":
                assert "energy_flow_direction" not in body, case
            continue
        assert number is not None
        if others is None:
            continue
        if field.unit == "%":
            expected = min(100.0, max(0.0, number))
        else:
            expected = field.convert(number) + others
            if field.kind == "power":
                expected = abs(expected)
        if not math.isfinite(expected):  # a sum that overflows is left out
            assert name not in body, case
        else:
            assert body.get(name) == pytest.approx(expected, rel=1e-6, abs=1e-4), case


ONE_BATTERY = [
    Field(SOC, "%", "soc"),
    Field(TARGET, "%", "target"),
    Field(RESERVE, "%", "reserve"),
    Field(POWER, "W", "power"),
    Field(POWER, "MW", "power"),
    Field(ENERGY, "kWh", "energy"),
    Field(ENERGY, "MWh", "energy"),
]


@checked
@pytest.mark.parametrize("field", ONE_BATTERY, ids=lambda f: f"{f.kind}_{f.unit}")
async def test_one_battery_survives_every_state(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    field: Field,
) -> None:
    await feed_every_state(hass, freezer, sandbox, field, others=0)


TWO_BATTERIES = [
    (Field(SOC, "%", "soc"), None),  # the weighted value is not checked
    (Field(SOC_2, "%", "soc"), None),
    (Field(POWER, "MW", "power"), -0.5),
    (Field(POWER_2, "MW", "power"), 1.5),
    (Field(ENERGY, "MWh", "energy"), 1.5),
    (Field(ENERGY_2, "MWh", "energy"), 6.5),
]


@checked
@pytest.mark.parametrize("batteries", [2])
@pytest.mark.parametrize(
    ("field", "others"), TWO_BATTERIES, ids=lambda f: getattr(f, "entity_id", "")
)
async def test_two_batteries_survive_every_state(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    field: Field,
    others: float | None,
) -> None:
    await feed_every_state(hass, freezer, sandbox, field, others)


@checked
@pytest.mark.parametrize("batteries", [2])
@pytest.mark.parametrize("kind", ["power", "energy"])
async def test_a_sum_that_overflows_is_left_out(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    kind: str,
) -> None:
    """Each battery's value is finite in kW (kWh); their sum is not."""
    first, second = (POWER, POWER_2) if kind == "power" else (ENERGY, ENERGY_2)
    unit = "kW" if kind == "power" else "kWh"
    forget_received(sandbox)
    set_entity(hass, Field(first, unit, kind), "1e308")
    set_entity(hass, Field(second, unit, kind), "1e308")
    await advance(hass, freezer, 31)
    bodies = check_bodies(sandbox, 0)
    assert bodies
    assert FIELDS[kind] not in bodies[-1]
    assert state_of(hass, "submission_status") == "ok"


@checked
async def test_unusable_unit_attribute(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A unit attribute that is no string (a list) is an unsupported unit."""
    hass.states.async_set(POWER, "1500", {"unit_of_measurement": ["W"]})
    await advance(hass, freezer, 31)
    bodies = check_bodies(sandbox, 0)
    assert bodies
    assert "battery_power_kw" not in bodies[-1]
    hass.states.async_set(SOC, "50", {"unit_of_measurement": ["%"]})
    await advance(hass, freezer, 31)
    assert check_bodies(sandbox, len(bodies)) == []
    assert state_of(hass, "submission_status") == "invalid_data"


async def submit(hass: HomeAssistant, data: dict[str, Any]) -> dict[str, Any]:
    response = await hass.services.async_call(
        DOMAIN, "submit_device_state", data, blocking=True, return_response=True
    )
    assert response is not None
    body = response["body"]
    assert isinstance(body, dict)
    return body


@checked
@pytest.mark.parametrize("zero", ["-0", "-0.0", -0.0], ids=["text", "text_0", "float"])
async def test_action_negative_zero_is_sent_as_zero(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    zero: str | float,
) -> None:
    """The action takes "-0" as a number: the body says 0, with no direction."""
    fields = (
        "state_of_charge_percent",
        "target_state_of_charge_percent",
        "battery_power_kw",
        "energy_remaining_kwh",
        "backup_reserve_percent",
    )
    body = await submit(hass, dict.fromkeys(fields, zero))
    assert [body[name] for name in fields] == [0] * len(fields)
    assert check_bodies(sandbox, 0) == [body]
    assert "energy_flow_direction" not in body


@checked
async def test_action_overrides_with_unusable_mapped_values(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    """Overrides stand; a mapped optional value that overflows is left out."""
    set_entity(hass, Field(POWER, "MW", "power"), "1e306")
    set_entity(hass, Field(ENERGY, "MWh", "energy"), "1e306")
    body = await submit(hass, {"state_of_charge_percent": 40})
    assert body["state_of_charge_percent"] == 40
    assert "battery_power_kw" not in body
    assert "energy_remaining_kwh" not in body
    assert "energy_flow_direction" not in body
    assert check_bodies(sandbox, 0) == [body]

    # A required value that cannot be read is the action's error, named.
    set_entity(hass, Field(TARGET, "%", "target"), "inf")
    with pytest.raises(ServiceValidationError) as err:
        await submit(hass, {"battery_power_kw": 1, "energy_flow_direction": "import"})
    assert err.value.translation_key == "not_a_number"
    assert err.value.translation_placeholders["entity_id"] == TARGET
    assert len(sandbox.requests_to("state")) == 1


async def test_a_bug_in_a_trigger_is_logged_and_shown(
    hass: HomeAssistant,
    caplog: pytest.LogCaptureFixture,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """An error that is no snapshot problem leaves no timer or listener dead."""
    sender = runtime_of(init_integration).sender
    with patch.object(sender, "enqueue", side_effect=RuntimeError("boom")):
        set_entity(hass, Field(SOC, "%", "soc"), "60")
        await advance(hass, freezer, 31)
    assert "Error doing job" not in caplog.text
    assert "Unexpected error; no snapshot was queued" in caplog.text
    assert state_of(hass, "submission_status") == "error"
    last_error = hass.states.get(entity_id(hass, "last_error"))
    assert last_error is not None
    assert SOC in last_error.attributes["unreadable_entity"]
    assert sandbox.requests_to("state") == []
    # The next change is taken as usual.
    set_entity(hass, Field(SOC, "%", "soc"), "61")
    await advance(hass, freezer, 31)
    assert [b["state_of_charge_percent"] for b in check_bodies(sandbox, 0)] == [61]
    assert state_of(hass, "submission_status") == "ok"
