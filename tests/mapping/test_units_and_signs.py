"""From entity states to a device state: units, sign conventions, bad input."""

from datetime import UTC, datetime, timedelta
import math
from unittest.mock import patch

from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
from homeassistant.util.unit_conversion import PowerConverter
import pytest

from custom_components.flatpeak.api import EnergyFlowDirection
from custom_components.flatpeak.const import PowerSign, SubmissionStatus
from custom_components.flatpeak.mapping.batteries import Battery
from custom_components.flatpeak.mapping.battery_mapping import (
    BatteryMapping,
    build_device_state,
    with_reference_id,
)
from custom_components.flatpeak.mapping.readings import SnapshotError, read_power_kw

from ..conftest import ENERGY, POWER, RESERVE, SOC, TARGET, set_battery

MAPPING = BatteryMapping(
    soc_entity=SOC,
    target_soc_entity=TARGET,
    power_entity=POWER,
    energy_entity=ENERGY,
    reserve_entity=RESERVE,
)
WHEN = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("power", "unit", "sign", "kw", "direction"),
    [
        (1500, "W", PowerSign.POSITIVE_DISCHARGING, 1.5, EnergyFlowDirection.EXPORT),
        (-1500, "W", PowerSign.POSITIVE_DISCHARGING, 1.5, EnergyFlowDirection.IMPORT),
        (1500, "W", PowerSign.POSITIVE_CHARGING, 1.5, EnergyFlowDirection.IMPORT),
        (-1500, "W", PowerSign.POSITIVE_CHARGING, 1.5, EnergyFlowDirection.EXPORT),
        (3.4, "kW", PowerSign.POSITIVE_DISCHARGING, 3.4, EnergyFlowDirection.EXPORT),
        (0.0025, "MW", PowerSign.POSITIVE_DISCHARGING, 2.5, EnergyFlowDirection.EXPORT),
        (
            1234.56,
            "W",
            PowerSign.POSITIVE_DISCHARGING,
            1.2346,
            EnergyFlowDirection.EXPORT,
        ),
        (0, "W", PowerSign.POSITIVE_DISCHARGING, 0.0, None),
        ("-0.0", "kW", PowerSign.POSITIVE_CHARGING, 0.0, None),
    ],
)
def test_power_units_and_sign(
    hass: HomeAssistant,
    power: float | str,
    unit: str,
    sign: PowerSign,
    kw: float,
    direction: EnergyFlowDirection | None,
) -> None:
    set_battery(hass, power=power, power_unit=unit)
    mapping = BatteryMapping(
        soc_entity=SOC, target_soc_percent=80, power_entity=POWER, power_sign=sign
    )
    state = build_device_state(hass, mapping, WHEN)
    assert state.battery_power_kw == kw
    assert state.energy_flow_direction == direction
    body = state.to_json()
    if direction is None:
        assert "energy_flow_direction" not in body
    assert body["battery_power_kw"] == kw


@pytest.mark.parametrize(
    ("energy", "unit", "kwh"),
    [(6500, "Wh", 6.5), (6.5, "kWh", 6.5), (0.0065, "MWh", 6.5), (0, "kWh", 0.0)],
)
def test_energy_units(
    hass: HomeAssistant, energy: float, unit: str, kwh: float
) -> None:
    set_battery(hass, energy=energy, energy_unit=unit)
    assert build_device_state(hass, MAPPING, WHEN).energy_remaining_kwh == kwh


def test_every_field(hass: HomeAssistant) -> None:
    set_battery(hass, soc=55.5, target=90)
    state = build_device_state(hass, MAPPING, WHEN)
    assert state.to_json() == {
        "time": "2026-11-28T09:00:00Z",
        "state_of_charge_percent": 55.5,
        "target_state_of_charge_percent": 90,
        "battery_power_kw": 1.5,
        "energy_flow_direction": "EXPORT",
        "energy_remaining_kwh": 6.5,
        "backup_reserve_percent": 15,
    }


def test_fixed_values(hass: HomeAssistant) -> None:
    set_battery(hass)
    mapping = BatteryMapping(soc_entity=SOC, target_soc_percent=75, reserve_percent=10)
    assert build_device_state(hass, mapping, WHEN).to_json() == {
        "time": "2026-11-28T09:00:00Z",
        "state_of_charge_percent": 55,
        "target_state_of_charge_percent": 75,
        "backup_reserve_percent": 10,
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"power": "unavailable"}, "battery_power_kw"),
        ({"power": "unknown"}, "battery_power_kw"),
        ({"power": "n/a"}, "battery_power_kw"),
        ({"power": "inf"}, "battery_power_kw"),
        ({"power_unit": None}, "battery_power_kw"),
        ({"power_unit": "A"}, "battery_power_kw"),
        ({"energy": "nan"}, "energy_remaining_kwh"),
        ({"energy_unit": None}, "energy_remaining_kwh"),
        ({"energy": -1}, "energy_remaining_kwh"),
    ],
)
def test_optional_values_that_cannot_be_read_are_left_out(
    hass: HomeAssistant, changes: dict[str, object], field: str
) -> None:
    set_battery(hass, **changes)  # type: ignore[arg-type]
    body = build_device_state(hass, MAPPING, WHEN).to_json()
    assert field not in body
    assert None not in body.values()
    if field == "battery_power_kw":
        assert "energy_flow_direction" not in body


def test_optional_reserve_out_of_range_left_out(hass: HomeAssistant) -> None:
    set_battery(hass)
    hass.states.async_set(RESERVE, "120", {"unit_of_measurement": "%"})
    assert (
        "backup_reserve_percent"
        not in build_device_state(hass, MAPPING, WHEN).to_json()
    )


@pytest.mark.parametrize(("state", "sent"), [("100.3", 100), ("101", 100), ("-1", 0)])
def test_percentages_within_a_point_outside_the_range_are_clamped(
    hass: HomeAssistant, state: str, sent: float
) -> None:
    set_battery(hass)
    hass.states.async_set(TARGET, state, {"unit_of_measurement": "%"})
    body = build_device_state(hass, MAPPING, WHEN).to_json()
    assert body["target_state_of_charge_percent"] == sent


@pytest.mark.parametrize(
    ("entity", "state", "attributes", "status", "key"),
    [
        (
            SOC,
            "unavailable",
            {},
            SubmissionStatus.WAITING_FOR_DATA,
            "entity_unavailable",
        ),
        (SOC, "unknown", {}, SubmissionStatus.WAITING_FOR_DATA, "entity_unavailable"),
        (
            SOC,
            "abc",
            {"unit_of_measurement": "%"},
            SubmissionStatus.INVALID_DATA,
            "not_a_number",
        ),
        (
            SOC,
            "inf",
            {"unit_of_measurement": "%"},
            SubmissionStatus.INVALID_DATA,
            "not_a_number",
        ),
        (
            SOC,
            "101.1",
            {"unit_of_measurement": "%"},
            SubmissionStatus.INVALID_DATA,
            "out_of_range",
        ),
        (
            SOC,
            "-1.5",
            {"unit_of_measurement": "%"},
            SubmissionStatus.INVALID_DATA,
            "out_of_range",
        ),
        (
            SOC,
            "0.5",
            {"unit_of_measurement": "kWh"},
            SubmissionStatus.INVALID_DATA,
            "unit_not_supported",
        ),
        (
            TARGET,
            "unavailable",
            {},
            SubmissionStatus.WAITING_FOR_DATA,
            "entity_unavailable",
        ),
    ],
)
def test_required_values(
    hass: HomeAssistant,
    entity: str,
    state: str,
    attributes: dict[str, str],
    status: SubmissionStatus,
    key: str,
) -> None:
    set_battery(hass)
    hass.states.async_set(entity, state, attributes)
    with pytest.raises(SnapshotError) as err:
        build_device_state(hass, MAPPING, WHEN)
    assert err.value.status is status
    assert err.value.translation_key == key
    assert err.value.translation_placeholders["entity_id"] == entity


def test_missing_entity(hass: HomeAssistant) -> None:
    with pytest.raises(SnapshotError) as err:
        build_device_state(hass, MAPPING, WHEN)
    assert err.value.status is SubmissionStatus.WAITING_FOR_DATA
    assert err.value.translation_key == "entity_missing"


@pytest.mark.parametrize("entity", [SOC, TARGET])
def test_percentage_without_unit_is_refused(hass: HomeAssistant, entity: str) -> None:
    """A bare 0.55 may be a fraction: it is not sent as 0.55 %."""
    set_battery(hass)
    hass.states.async_set(entity, "0.55", {"device_class": "battery"})
    with pytest.raises(SnapshotError) as err:
        build_device_state(hass, MAPPING, WHEN)
    assert err.value.status is SubmissionStatus.INVALID_DATA
    assert err.value.translation_key == "unit_missing"
    assert err.value.translation_placeholders == {"entity_id": entity, "expected": "%"}


def test_reserve_without_unit_is_left_out(hass: HomeAssistant) -> None:
    set_battery(hass)
    hass.states.async_set(RESERVE, "0.2")
    assert build_device_state(hass, MAPPING, WHEN).backup_reserve_percent is None


def test_time_in_the_future_is_clamped(hass: HomeAssistant) -> None:
    set_battery(hass)
    future = dt_util.utcnow() + timedelta(hours=1)
    state = build_device_state(hass, MAPPING, future)
    assert state.time <= dt_util.utcnow()


def test_reference_id_is_stable_per_snapshot(hass: HomeAssistant) -> None:
    set_battery(hass)
    first = with_reference_id("dev_1", build_device_state(hass, MAPPING, WHEN))
    again = with_reference_id("dev_1", build_device_state(hass, MAPPING, WHEN))
    later = with_reference_id(
        "dev_1", build_device_state(hass, MAPPING, WHEN + timedelta(seconds=1))
    )
    other_device = with_reference_id("dev_2", build_device_state(hass, MAPPING, WHEN))
    assert first.record_reference_id == again.record_reference_id
    assert first.record_reference_id != later.record_reference_id
    assert first.record_reference_id != other_device.record_reference_id
    assert (
        with_reference_id("dev_1", first).record_reference_id
        == first.record_reference_id
    )


def test_entity_ids_without_duplicates() -> None:
    mapping = BatteryMapping(
        soc_entity=SOC, target_soc_entity=SOC, reserve_entity=RESERVE
    )
    assert mapping.entity_ids == [SOC, RESERVE]


@pytest.mark.parametrize(
    ("power", "unit", "energy", "energy_unit"),
    [("1e306", "MW", "1e306", "MWh"), ("-1e308", "MW", "1e308", "MWh")],
)
def test_a_conversion_that_overflows_is_left_out(
    hass: HomeAssistant, power: str, unit: str, energy: str, energy_unit: str
) -> None:
    set_battery(
        hass, power=power, power_unit=unit, energy=energy, energy_unit=energy_unit
    )
    body = build_device_state(hass, MAPPING, WHEN).to_json()
    assert "battery_power_kw" not in body
    assert "energy_flow_direction" not in body
    assert "energy_remaining_kwh" not in body


def test_a_conversion_that_overflows_names_the_entity(hass: HomeAssistant) -> None:
    """Reading the power alone (the action's view) says which entity and unit."""
    set_battery(hass, power="1e306", power_unit="MW")
    with pytest.raises(SnapshotError) as err:
        read_power_kw(hass, POWER)
    assert err.value.translation_key == "out_of_range"
    assert err.value.translation_placeholders == {
        "entity_id": POWER,
        "value": "1e+306 MW",
    }


def test_a_fixed_target_out_of_range_is_named(hass: HomeAssistant) -> None:
    """An options file edited by hand: the fixed target is named, nothing raises."""
    set_battery(hass)
    mapping = BatteryMapping(soc_entity=SOC, target_soc_percent=150)
    with pytest.raises(SnapshotError) as err:
        build_device_state(hass, mapping, WHEN)
    assert err.value.status is SubmissionStatus.INVALID_DATA
    assert err.value.translation_placeholders == {
        "entity_id": "target_state_of_charge_percent",
        "value": "150",
    }


def test_nothing_but_a_snapshot_error_leaves_the_builder(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """A bug (here a time without a zone) is a SnapshotError, its trace logged."""
    set_battery(hass)
    with pytest.raises(SnapshotError) as err:
        build_device_state(hass, MAPPING, WHEN, {"time": datetime(2026, 11, 28)})
    assert err.value.status is SubmissionStatus.INVALID_DATA
    assert err.value.translation_key == "snapshot_failed"
    assert err.value.entity_id == ", ".join(MAPPING.entity_ids)
    assert "Snapshot not taken" in caplog.text


def test_an_unexpected_error_while_reading_names_the_entity(
    hass: HomeAssistant,
) -> None:
    """A converter that raises (a bug) is ``out_of_range`` of the entity read."""
    set_battery(hass, power=1500, power_unit="W")
    with (
        patch.object(PowerConverter, "convert", side_effect=ZeroDivisionError),
        pytest.raises(SnapshotError) as err,
    ):
        read_power_kw(hass, POWER)
    assert err.value.translation_key == "out_of_range"
    assert err.value.translation_placeholders == {"entity_id": POWER, "value": "1500"}


def test_a_weighted_state_of_charge_that_is_no_number_names_every_battery(
    hass: HomeAssistant,
) -> None:
    """Capacities no battery has (an edited options file): the weights overflow."""
    set_battery(hass)
    hass.states.async_set("sensor.garage_soc", "30", {"unit_of_measurement": "%"})
    mapping = BatteryMapping(
        soc_entity=SOC,
        target_soc_percent=80,
        capacity_kwh=1e308,
        more_batteries=(Battery(soc_entity="sensor.garage_soc", capacity_kwh=1e308),),
    )
    with pytest.raises(SnapshotError) as err:
        build_device_state(hass, mapping, WHEN)
    assert err.value.status is SubmissionStatus.INVALID_DATA
    assert err.value.translation_key == "out_of_range"
    assert err.value.entity_id == f"{SOC}, sensor.garage_soc"


def test_optional_values_the_api_would_refuse_are_left_out(
    hass: HomeAssistant,
) -> None:
    """The builder's own guarantee, whatever its caller validated."""
    set_battery(hass)
    overrides = {
        "battery_power_kw": math.inf,
        "energy_flow_direction": EnergyFlowDirection.EXPORT,
        "energy_remaining_kwh": -1.0,
        "backup_reserve_percent": math.nan,
    }
    body = build_device_state(hass, MAPPING, WHEN, overrides).to_json()
    for name in (*overrides, "energy_flow_direction"):
        assert name not in body
