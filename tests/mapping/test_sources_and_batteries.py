"""Where the mapping comes from (Energy dashboard, battery device, entities); several batteries."""

import importlib
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant import config_entries
from homeassistant.components.energy.data import async_get_manager
from homeassistant.config_entries import SOURCE_RECONFIGURE
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flatpeak.account.issues import mapping_issue_id
from custom_components.flatpeak.const import (
    CONF_API_URL,
    CONF_SECRET_KEY,
    DOMAIN,
    SUBENTRY_DEVICE,
)
from custom_components.flatpeak.flows.schemas import SECTION_ADVANCED
from custom_components.flatpeak.mapping import energy_dashboard
from custom_components.flatpeak.mapping.batteries import (
    Battery,
    summed_energy_kwh,
    summed_power_kw,
    weighted_soc,
)
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from ..conftest import (
    BEHAVIOUR,
    SUBENTRY_ID,
    advance,
    device_options,
    runtime_of,
    set_device_options,
    settle,
    state_of,
)

pytestmark = pytest.mark.usefixtures("at_start")
TEST_DOMAIN = "test_battery_maker"
ENERGY_HAS_SOC = energy_dashboard.has_state_of_charge(
    importlib.import_module(energy_dashboard.ENERGY_DATA_MODULE)
)
newest_only = pytest.mark.skipif(
    not ENERGY_HAS_SOC, reason="the Energy dashboard has no state of charge"
)


def set_sensor(
    hass: HomeAssistant, entity_id: str, value: float | str, unit: str, dc: str
) -> None:
    hass.states.async_set(
        entity_id, str(value), {"unit_of_measurement": unit, "device_class": dc}
    )


def set_battery(
    hass: HomeAssistant, name: str, soc: float | str, watts: float, kwh: float = 5
) -> None:
    """Write the states of a battery's SoC (%), power (W) and energy (kWh)."""
    set_sensor(hass, f"sensor.{name}_soc", soc, "%", "battery")
    set_sensor(hass, f"sensor.{name}_power", watts, "W", "power")
    set_sensor(hass, f"sensor.{name}_energy", kwh, "kWh", "energy_storage")


def dashboard_battery(name: str, capacity: float | None = None) -> dict[str, Any]:
    """Return an Energy dashboard battery source as the dashboard saves it."""
    source: dict[str, Any] = {
        "type": "battery",
        "stat_energy_from": f"sensor.{name}_discharged",
        "stat_energy_to": f"sensor.{name}_charged",
        "stat_rate": f"sensor.{name}_power",
        "stat_soc": f"sensor.{name}_soc",
    }
    if capacity is not None:
        source["capacity"] = capacity
    return source


async def save_dashboard(hass: HomeAssistant, *sources: dict[str, Any]) -> None:
    manager = await async_get_manager(hass)
    await manager.async_update({"energy_sources": list(sources)})  # type: ignore[typeddict-item]


def add_device(
    hass: HomeAssistant, name: str, sensors: dict[str, tuple[str, str]]
) -> str:
    """Register a battery device of a test-only integration, with its sensors.

    ``sensors`` maps an object id (``domain.object_id`` outside ``sensor``) to
    its (unit, device class); the states are written by ``set_battery``/``set_sensor``.
    """
    entry = MockConfigEntry(domain=TEST_DOMAIN, title=name)
    entry.add_to_hass(hass)
    device = dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(TEST_DOMAIN, name)},
        name=name.replace("_", " ").title(),
        manufacturer="Test",
    )
    registry = er.async_get(hass)
    for key, (unit, device_class) in sensors.items():
        domain, _, object_id = key.rpartition(".")
        registry.async_get_or_create(
            domain or "sensor",
            TEST_DOMAIN,
            object_id,
            suggested_object_id=object_id,
            config_entry=entry,
            device_id=device.id,
            original_device_class=device_class,
            unit_of_measurement=unit,
        )
    return device.id


def battery_device(hass: HomeAssistant, name: str) -> str:
    return add_device(
        hass,
        name,
        {
            f"{name}_soc": ("%", "battery"),
            f"{name}_power": ("W", "power"),
            f"{name}_energy": ("kWh", "energy_storage"),
        },
    )


async def credentials_done(hass: HomeAssistant, sandbox: FlatpeakSandbox) -> Any:
    """Start the config flow and pass the credentials and device steps."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "account_id": sandbox.account_id,
            CONF_SECRET_KEY: sandbox.secret_key,
            SECTION_ADVANCED: {CONF_API_URL: sandbox.url},
        },
    )
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: DEFAULT_DEVICE_ID}
    )


def created_options(result: Any) -> dict[str, Any]:
    """Return the mapping and settings of the device the first run created."""
    [subentry] = result["result"].subentries.values()
    return {k: v for k, v in subentry.data.items() if k != CONF_DEVICE_ID}


async def change_mapping(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    """Open the device's "Battery mapping" (its reconfigure menu's first option)."""
    result = await hass.config_entries.subentries.async_init(
        (entry.entry_id, SUBENTRY_DEVICE),
        context={"source": SOURCE_RECONFIGURE, "subentry_id": SUBENTRY_ID},
    )
    return await configure_change(hass, result, {"next_step_id": "battery_source"})


async def configure_change(hass: HomeAssistant, result: Any, data: Any) -> Any:
    return await hass.config_entries.subentries.async_configure(result["flow_id"], data)


def suggested(result: Any) -> dict[str, Any]:
    return {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }


def defaults(result: Any) -> dict[str, Any]:
    return {
        str(key): key.default()
        for key in result["data_schema"].schema
        if callable(getattr(key, "default", None))
    }


async def last_body(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, sandbox: FlatpeakSandbox
) -> dict[str, Any]:
    """Let the change become a snapshot; return the body Flatpeak received."""
    await advance(hass, freezer, 1)
    bodies = sandbox.states()
    assert bodies
    return bodies[-1]


# --- the aggregation -----------------------------------------------------------


def test_soc_weighted_by_capacity_or_equally() -> None:
    big = Battery(soc_entity="a", capacity_kwh=10)
    small = Battery(soc_entity="b", capacity_kwh=5)
    unknown = Battery(soc_entity="c")
    assert weighted_soc([big, small], [60, 30]) == 50
    assert weighted_soc([big, unknown], [60, 30]) == 45  # equal weights
    assert weighted_soc([unknown], [33.3]) == 33.3


def test_power_and_energy_sums_need_every_battery() -> None:
    one = Battery(soc_entity="a", power_entity="p1", energy_entity="e1")
    two = Battery(soc_entity="b", power_entity="p2", capacity_kwh=4)
    kw = {"p1": 2.0, "p2": -0.5, "e1": 3.0}
    assert summed_power_kw([one, two], kw.get) == 1.5
    assert summed_power_kw([one, Battery(soc_entity="c")], kw.get) is None
    assert summed_power_kw([one, two], {"p1": 2.0}.get) is None
    assert summed_energy_kwh([one, two], [50, 50], kw.get, estimate=False) is None
    assert summed_energy_kwh([one, two], [50, 50], kw.get, estimate=True) == 5.0
    assert summed_energy_kwh([one, two], [50, None], kw.get, estimate=True) is None


# --- from the Energy dashboard ------------------------------------------------


@newest_only
async def test_energy_dashboard_one_battery(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    set_battery(hass, "home", 55, 1500)
    await save_dashboard(hass, dashboard_battery("home"))
    result = await credentials_done(hass, sandbox)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["battery_energy", "battery"]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "battery_energy"}
    )
    assert result["step_id"] == "battery_energy"
    fields = set(map(str, result["data_schema"].schema))
    # No capacity: no estimate offered; no sign question (the dashboard's).
    assert "estimate_energy_remaining" not in fields
    assert "battery_power_sign" not in fields
    assert defaults(result)["energy_batteries"] == ["sensor.home_soc"]
    assert result["description_placeholders"]["capacities"] == "home soc (?)"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {"energy_batteries": ["sensor.home_soc"], "target_state_of_charge_percent": 90},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert created_options(result) == {
        **BEHAVIOUR,
        "state_of_charge_entity": "sensor.home_soc",
        "battery_power_entity": "sensor.home_power",
        "battery_power_sign": "positive_discharging",
        "target_state_of_charge_percent": 90,
        "estimate_energy_remaining": False,
        "mapping_source": "energy_dashboard",
    }
    await settle(hass)
    set_sensor(hass, "sensor.home_soc", 56, "%", "battery")
    body = await last_body(hass, freezer, sandbox)
    assert body["state_of_charge_percent"] == 56
    assert body["target_state_of_charge_percent"] == 90
    assert body["battery_power_kw"] == 1.5
    assert body["energy_flow_direction"] == "EXPORT"  # the dashboard: + = discharging
    assert "energy_remaining_kwh" not in body


@newest_only
async def test_energy_dashboard_two_batteries_weighted_and_summed(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    set_battery(hass, "home", 60, 2000)
    set_battery(hass, "garage", 30, -500)
    await save_dashboard(
        hass,
        {"type": "grid", "flow_from": [], "flow_to": [], "cost_adjustment_day": 0},
        dashboard_battery("home", capacity=10),
        dashboard_battery("garage", capacity=5),
    )
    result = await credentials_done(hass, sandbox)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "battery_energy"}
    )
    assert result["description_placeholders"]["capacities"] == (
        "home soc (10 kWh), garage soc (5 kWh)"
    )
    assert defaults(result)["estimate_energy_remaining"] is False  # off by default
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "energy_batteries": ["sensor.home_soc", "sensor.garage_soc"],
            "target_state_of_charge_percent": 80,
            "estimate_energy_remaining": True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry = result["result"]
    assert created_options(result)["battery_capacity_kwh_2"] == 5
    await settle(hass)
    assert runtime_of(entry).mapping.source == "energy_dashboard"

    set_sensor(hass, "sensor.home_soc", 61, "%", "battery")
    body = await last_body(hass, freezer, sandbox)
    assert body["state_of_charge_percent"] == pytest.approx((61 * 10 + 30 * 5) / 15)
    assert body["battery_power_kw"] == 1.5  # +2 kW and -0.5 kW, with sign
    assert body["energy_flow_direction"] == "EXPORT"
    assert body["energy_remaining_kwh"] == pytest.approx(6.1 + 1.5)

    # Charging overall: the direction follows the sum.
    set_sensor(hass, "sensor.garage_power", -2500, "W", "power")
    await advance(hass, freezer, 31)
    body = sandbox.states()[-1]
    assert body["battery_power_kw"] == 0.5
    assert body["energy_flow_direction"] == "IMPORT"

    # One battery's state of charge unavailable: nothing is sent, the status
    # names that battery.
    sent = len(sandbox.states())
    hass.states.async_set("sensor.garage_soc", "unavailable")
    await advance(hass, freezer, 31)
    assert len(sandbox.states()) == sent
    assert state_of(hass, "submission_status") == "waiting_for_data"
    last_error = hass.states.get("sensor.sandbox_energy_sandbox_battery_10_last_error")
    assert last_error is not None
    assert last_error.state == "waiting_for_data"
    assert last_error.attributes["unreadable_entity"] == "sensor.garage_soc"


@pytest.mark.parametrize("with_soc", [False, True])
async def test_energy_dashboard_offered_only_with_a_state_of_charge(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, with_soc: bool
) -> None:
    """A dashboard battery without stat_soc (all the floor knows) is no source."""
    set_battery(hass, "home", 55, 1500)
    source = dashboard_battery("home")
    if not with_soc:
        del source["stat_soc"]
    await save_dashboard(hass, source)
    result = await credentials_done(hass, sandbox)
    if with_soc and ENERGY_HAS_SOC:
        assert result["menu_options"] == ["battery_energy", "battery"]
    else:
        # Only entities are possible: today's form, without a menu.
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "battery"


async def test_an_unreadable_energy_dashboard_is_not_offered_and_logged_once(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Home Assistant moved its internal module: the flow offers the other ways."""
    set_battery(hass, "home", 55, 1500)
    await save_dashboard(hass, dashboard_battery("home"))
    monkeypatch.setattr(
        energy_dashboard, "ENERGY_DATA_MODULE", "homeassistant.components.energy.gone"
    )
    for _ in range(2):
        result = await credentials_done(hass, sandbox)
        assert result["type"] is FlowResultType.FORM
        assert result["step_id"] == "battery"
    lines = [r for r in caplog.records if "Energy dashboard's batteries" in r.message]
    assert [r.levelno for r in lines] == [logging.INFO]
    assert "ModuleNotFoundError" in lines[0].message


async def test_an_energy_dashboard_of_another_shape_is_not_offered(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its preferences read as something else: no battery, nothing raised."""
    energy = importlib.import_module(energy_dashboard.ENERGY_DATA_MODULE)

    async def _other_shape(_hass: HomeAssistant) -> object:
        return object()  # no ``data``

    monkeypatch.setattr(energy, "async_get_manager", _other_shape)
    monkeypatch.setattr(energy_dashboard, "has_state_of_charge", lambda _e: True)
    assert await energy_dashboard.async_energy_battery_sources(hass) == []


# --- from a battery device ----------------------------------------------------


async def test_pick_the_battery_device(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    device_id = battery_device(hass, "garage")
    set_battery(hass, "garage", 40, -1000, kwh=4)
    # A device without a battery sensor in % is not offered.
    add_device(hass, "meter", {"meter_power": ("W", "power")})
    result = await credentials_done(hass, sandbox)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["battery_device", "battery"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "battery_device"}
    )
    assert result["step_id"] == "battery_device"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"battery_devices": []}
    )
    assert result["errors"] == {"battery_devices": "no_battery_chosen"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"battery_devices": [device_id]}
    )
    # The entities form, pre-filled by device class and unit; nothing else.
    assert result["step_id"] == "battery"
    assert suggested(result) == {
        "state_of_charge_entity": "sensor.garage_soc",
        "battery_power_entity": "sensor.garage_power",
        "energy_remaining_entity": "sensor.garage_energy",
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            **suggested(result),
            "battery_power_sign": "positive_discharging",
            "target_state_of_charge_percent": 80,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert created_options(result)["mapping_source"] == "device"
    await settle(hass)
    set_sensor(hass, "sensor.garage_soc", 41, "%", "battery")
    body = await last_body(hass, freezer, sandbox)
    assert body["state_of_charge_percent"] == 41
    assert body["battery_power_kw"] == 1.0
    assert body["energy_flow_direction"] == "IMPORT"
    assert body["energy_remaining_kwh"] == 4


async def test_two_devices_prefill_only_what_is_unambiguous(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    left = battery_device(hass, "left")
    right = add_device(
        hass,
        "right",
        {
            "right_soc": ("%", "battery"),
            "right_power": ("W", "power"),
            "right_pv_power": ("W", "power"),  # two power sensors: no guess
            "right_temperature": ("°C", "temperature"),
            "number.right_charge_limit": ("%", "battery"),  # not a sensor
        },
    )
    set_battery(hass, "left", 80, 1000)
    set_battery(hass, "right", 40, 1000)
    set_sensor(hass, "sensor.right_pv_power", 300, "W", "power")
    set_sensor(hass, "number.right_charge_limit", 90, "%", "battery")
    result = await credentials_done(hass, sandbox)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "battery_device"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"battery_devices": [left, right]}
    )
    assert suggested(result) == {
        "state_of_charge_entity": "sensor.left_soc",
        "battery_power_entity": "sensor.left_power",
        "energy_remaining_entity": "sensor.left_energy",
        "state_of_charge_entity_2": "sensor.right_soc",
    }
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            **suggested(result),
            "battery_power_entity_2": "sensor.right_power",
            "battery_power_sign": "positive_charging",
            "target_state_of_charge_percent": 90,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await settle(hass)
    set_sensor(hass, "sensor.left_soc", 81, "%", "battery")
    body = await last_body(hass, freezer, sandbox)
    assert body["state_of_charge_percent"] == 60.5  # no capacities: equal weights
    assert body["battery_power_kw"] == 2.0
    assert body["energy_flow_direction"] == "IMPORT"  # positive = charging
    # The second battery has no energy entity: no partial sum.
    assert "energy_remaining_kwh" not in body


async def test_single_battery_entry_of_0_1_0_loads_as_one_battery(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    mapping = runtime_of(init_integration).mapping
    assert "mapping_source" not in device_options(init_integration)
    assert mapping.source == "entities"
    assert len(mapping.batteries) == 1


# --- several batteries: entities, options, repairs, renames -------------------

TWO_BATTERIES: dict[str, Any] = {
    "state_of_charge_entity": "sensor.left_soc",
    "battery_power_entity": "sensor.left_power",
    "battery_power_sign": "positive_discharging",
    "battery_capacity_kwh": 10,
    "state_of_charge_entity_2": "sensor.right_soc",
    "battery_power_entity_2": "sensor.right_power",
    "battery_capacity_kwh_2": 30,
    "target_state_of_charge_percent": 80,
    "mapping_source": "entities",
}


@pytest.fixture
def options(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Two batteries for the tests below; one (0.1.0's shape) elsewhere."""
    from ..conftest import MAPPING

    if "two_battery_entry" in request.fixturenames:
        return {**TWO_BATTERIES, **BEHAVIOUR}
    return {**MAPPING, **BEHAVIOUR}


@pytest.fixture
def two_batteries(hass: HomeAssistant) -> None:
    registry = er.async_get(hass)
    for name in ("left_soc", "right_soc"):
        registry.async_get_or_create(
            "sensor", TEST_DOMAIN, name, suggested_object_id=name
        )
    set_battery(hass, "left", 80, 1000)
    set_battery(hass, "right", 40, -3000)


@pytest.fixture
async def two_battery_entry(
    hass: HomeAssistant, two_batteries: None, config_entry: MockConfigEntry
) -> MockConfigEntry:
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await settle(hass)
    return config_entry


async def test_entities_of_two_batteries_weighted_by_capacity(
    hass: HomeAssistant,
    two_battery_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    hass_client: ClientSessionGenerator,
) -> None:
    set_sensor(hass, "sensor.right_soc", 41, "%", "battery")
    body = await last_body(hass, freezer, sandbox)
    assert body["state_of_charge_percent"] == pytest.approx((80 * 10 + 41 * 30) / 40)
    assert body["battery_power_kw"] == 2.0
    assert body["energy_flow_direction"] == "IMPORT"
    # Diagnostics: the source, every battery and their entities' states.
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, two_battery_entry
    )
    device = diagnostics["devices"][SUBENTRY_ID]
    mapping = device["mapping"]
    assert mapping["source"] == "entities"
    assert mapping["more_batteries"][0]["soc_entity"] == "sensor.right_soc"
    assert mapping["more_batteries"][0]["capacity_kwh"] == 30
    assert device["mapped_entities"]["sensor.right_soc"]["state"] == "41"


async def test_rename_follows_the_second_battery(
    hass: HomeAssistant,
    two_battery_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    er.async_get(hass).async_update_entity(
        "sensor.right_soc", new_entity_id="sensor.right_battery_soc"
    )
    await settle(hass)
    assert device_options(two_battery_entry)["state_of_charge_entity_2"] == (
        "sensor.right_battery_soc"
    )
    assert (
        device_options(two_battery_entry)["state_of_charge_entity"] == "sensor.left_soc"
    )


async def test_missing_entity_of_the_second_battery_is_a_fixable_issue(
    hass: HomeAssistant,
    two_battery_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    hass.states.async_remove("sensor.right_power")
    set_sensor(hass, "sensor.left_soc", 81, "%", "battery")
    await advance(hass, freezer, 1)
    issue = issue_registry.async_get_issue(DOMAIN, mapping_issue_id(SUBENTRY_ID))
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders is not None
    assert "sensor.right_power" in issue.translation_placeholders["entities"]


async def test_options_add_and_remove_a_battery(
    hass: HomeAssistant,
    two_battery_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    set_battery(hass, "attic", 20, 0)
    result = await change_mapping(hass, two_battery_entry)
    assert result["step_id"] == "battery"
    assert suggested(result)["state_of_charge_entity_2"] == "sensor.right_soc"
    sections: dict[str, Any] = {}  # the mapping's form holds no settings
    mapping = {k: v for k, v in TWO_BATTERIES.items() if k != "mapping_source"}
    result = await configure_change(
        hass, result, {**mapping, **sections, "add_battery": True}
    )
    # The same form with a third battery, nothing saved yet.
    assert result["step_id"] == "battery"
    assert "state_of_charge_entity_3" in map(str, result["data_schema"].schema)
    assert device_options(two_battery_entry)["battery_capacity_kwh_2"] == 30
    third = {"battery_power_entity_3": "sensor.attic_power"}
    result = await configure_change(hass, result, {**mapping, **sections, **third})
    assert result["errors"] == {"state_of_charge_entity_3": "state_of_charge_required"}
    # Battery 2 cleared: removed; battery 3 becomes battery 2.
    kept = {
        k: v
        for k, v in mapping.items()
        if k not in ("state_of_charge_entity_2", "battery_power_entity_2")
    }
    kept.pop("battery_capacity_kwh_2")
    result = await configure_change(
        hass,
        result,
        {**kept, **sections, **third, "state_of_charge_entity_3": "sensor.attic_soc"},
    )
    assert result["type"] is FlowResultType.ABORT
    await settle(hass)
    options = device_options(two_battery_entry)
    assert options["state_of_charge_entity_2"] == "sensor.attic_soc"
    assert options["battery_power_entity_2"] == "sensor.attic_power"
    assert "state_of_charge_entity_3" not in options
    assert "battery_capacity_kwh_2" not in options
    assert runtime_of(two_battery_entry).mapping.more_batteries == (
        Battery(soc_entity="sensor.attic_soc", power_entity="sensor.attic_power"),
    )


async def test_repair_offers_the_same_choice(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    sandbox: FlatpeakSandbox,
) -> None:
    """The mapping repair starts with the choice; a device fixes the mapping."""
    from homeassistant.components.repairs import DOMAIN as REPAIRS
    from homeassistant.setup import async_setup_component

    from ..conftest import POWER

    assert await async_setup_component(hass, REPAIRS, {})
    await settle(hass)  # repairs platforms load in the background
    device_id = battery_device(hass, "garage")
    set_battery(hass, "garage", 40, -1000, kwh=4)
    hass.states.async_remove(POWER)
    await advance(hass, freezer, 1)
    issue_id = mapping_issue_id(SUBENTRY_ID)
    flows = hass.data[REPAIRS]["flow_manager"]
    result = await flows.async_init(DOMAIN, data={"issue_id": issue_id})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["battery_device", "battery"]
    result = await flows.async_configure(
        result["flow_id"], {"next_step_id": "battery_device"}
    )
    result = await flows.async_configure(
        result["flow_id"], {"battery_devices": [device_id]}
    )
    # The device's entities; the target and the reserve as they were.
    values = suggested(result)
    assert values["battery_power_entity"] == "sensor.garage_power"
    assert values["target_state_of_charge_entity"] == "sensor.battery_target"
    assert values["backup_reserve_percent"] == 20
    result = await flows.async_configure(
        result["flow_id"], {**values, "battery_power_sign": "positive_discharging"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await settle(hass)
    options = device_options(init_integration)
    assert options["mapping_source"] == "device"
    assert options["state_of_charge_entity"] == "sensor.garage_soc"
    assert options["min_interval"] == BEHAVIOUR["min_interval"]  # kept
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None


@newest_only
async def test_energy_dashboard_of_five_batteries_is_too_many(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    names = [f"unit_{n}" for n in range(5)]
    for name in names:
        set_battery(hass, name, 50, 0)
    await save_dashboard(hass, *(dashboard_battery(name) for name in names))
    result = await credentials_done(hass, sandbox)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "battery_energy"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "energy_batteries": [f"sensor.{name}_soc" for name in names],
            "target_state_of_charge_percent": 80,
        },
    )
    assert result["errors"] == {"energy_batteries": "too_many_batteries"}


@newest_only
async def test_energy_form_errors(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    """No battery chosen; a dashboard battery whose sensor is not in %."""
    set_battery(hass, "home", 55, 1500)
    set_sensor(hass, "sensor.home_soc", 55, "kWh", "battery")
    await save_dashboard(hass, dashboard_battery("home"))
    result = await credentials_done(hass, sandbox)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "battery_energy"}
    )
    choice = {"target_state_of_charge_percent": 80}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**choice, "energy_batteries": []}
    )
    assert result["errors"] == {"energy_batteries": "no_battery_chosen"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "energy_batteries": ["sensor.home_soc"],
            "target_state_of_charge_percent": 80,
            "target_state_of_charge_entity": "sensor.home_power",
        },
    )
    assert result["errors"] == {
        "energy_batteries": "not_a_percentage",
        "target_state_of_charge_entity": "entity_or_value",
    }
    # A battery removed from the dashboard while the form was open is no choice.
    await save_dashboard(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**choice, "energy_batteries": ["sensor.home_soc"]}
    )
    assert result["errors"] == {"energy_batteries": "no_battery_chosen"}


async def test_device_pick_limits_and_registry_units(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    """At most four devices; a sensor without a state is judged by its registry unit."""
    devices = [battery_device(hass, f"unit_{n}") for n in range(5)]
    # No states at all: the registry's device class and unit count.
    registry = er.async_get(hass)
    registry.async_update_entity(
        "sensor.unit_0_energy", disabled_by=er.RegistryEntryDisabler.USER
    )
    result = await credentials_done(hass, sandbox)
    assert result["menu_options"] == ["battery_device", "battery"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "battery_device"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"battery_devices": devices}
    )
    assert result["errors"] == {"battery_devices": "too_many_batteries"}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"battery_devices": devices[:1]}
    )
    # The disabled energy sensor is not proposed.
    assert suggested(result) == {
        "state_of_charge_entity": "sensor.unit_0_soc",
        "battery_power_entity": "sensor.unit_0_power",
    }


@newest_only
async def test_options_switch_to_the_energy_dashboard(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The mapping offers the same choice; the settings are kept apart."""
    set_battery(hass, "home", 70, -1200)
    await save_dashboard(hass, dashboard_battery("home", capacity=8))
    result = await change_mapping(hass, init_integration)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["battery_energy", "battery"]
    result = await configure_change(hass, result, {"next_step_id": "battery_energy"})
    assert result["step_id"] == "battery_energy"
    # The stored target and reserve are suggested.
    assert suggested(result)["target_state_of_charge_entity"] == "sensor.battery_target"
    assert suggested(result)["backup_reserve_percent"] == 20
    result = await configure_change(
        hass,
        result,
        {
            "energy_batteries": ["sensor.home_soc"],
            "target_state_of_charge_entity": "sensor.battery_target",
            "backup_reserve_percent": 20,
            "estimate_energy_remaining": True,
        },
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    await settle(hass)
    assert dict(device_options(init_integration)) == {
        CONF_DEVICE_ID: DEFAULT_DEVICE_ID,
        **BEHAVIOUR,
        "state_of_charge_entity": "sensor.home_soc",
        "battery_power_entity": "sensor.home_power",
        "battery_capacity_kwh": 8,
        "battery_power_sign": "positive_discharging",
        "target_state_of_charge_entity": "sensor.battery_target",
        "backup_reserve_percent": 20,
        "estimate_energy_remaining": True,
        "mapping_source": "energy_dashboard",
    }
    set_sensor(hass, "sensor.home_soc", 75, "%", "battery")
    body = await last_body(hass, freezer, sandbox)
    assert body["state_of_charge_percent"] == 75
    assert body["battery_power_kw"] == 1.2
    assert body["energy_flow_direction"] == "IMPORT"
    assert body["energy_remaining_kwh"] == 6  # 8 kWh x 75 %, an estimate


@newest_only
async def test_options_energy_form_shows_what_is_stored(
    hass: HomeAssistant, config_entry: MockConfigEntry
) -> None:
    """Reopening the Energy dashboard form keeps the batteries and the estimate
    chosen before: saving it unchanged changes nothing (found by the review)."""
    set_battery(hass, "home", 70, -1200)
    set_battery(hass, "garage", 30, 500)
    await save_dashboard(
        hass, dashboard_battery("home", 8), dashboard_battery("garage", 4)
    )
    stored = {
        **BEHAVIOUR,
        "state_of_charge_entity": "sensor.home_soc",
        "battery_power_entity": "sensor.home_power",
        "battery_capacity_kwh": 8,
        "battery_power_sign": "positive_discharging",
        "target_state_of_charge_percent": 90,
        "estimate_energy_remaining": True,
        "mapping_source": "energy_dashboard",
    }
    config_entry.add_to_hass(hass)
    set_device_options(
        hass, config_entry, {CONF_DEVICE_ID: DEFAULT_DEVICE_ID, **stored}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await settle(hass)
    result = await change_mapping(hass, config_entry)
    result = await configure_change(hass, result, {"next_step_id": "battery_energy"})
    assert defaults(result)["energy_batteries"] == ["sensor.home_soc"]
    assert suggested(result)["estimate_energy_remaining"] is True


@newest_only
async def test_energy_form_names_each_battery_with_its_capacity(
    hass: HomeAssistant, sandbox: FlatpeakSandbox
) -> None:
    """The battery's name (its device's), and its capacity beside it: not
    "Garage State of charge: 13.5 kWh", which reads as a state of charge in kWh."""
    battery_device(hass, "garage")
    set_battery(hass, "garage", 40, 0)
    hass.states.async_set(
        "sensor.garage_soc",
        "40",
        {
            "unit_of_measurement": "%",
            "device_class": "battery",
            "friendly_name": "Garage State of charge",
        },
    )
    await save_dashboard(hass, dashboard_battery("garage", capacity=13.5))
    result = await credentials_done(hass, sandbox)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "battery_energy"}
    )
    assert result["description_placeholders"]["capacities"] == "Garage (13.5 kWh)"
    [marker] = [k for k in result["data_schema"].schema if str(k) == "energy_batteries"]
    options = result["data_schema"].schema[marker].config["options"]
    assert options == [{"value": "sensor.garage_soc", "label": "Garage"}]


async def test_the_entities_form_keeps_the_estimate(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A one-battery mapping with the capacity x state of charge estimate (as the
    Energy dashboard saves it) keeps its capacity and the estimate when it is
    changed in the entities form (the repair's path too): they are in the form."""
    set_battery(hass, "home", 50, -1000)
    stored = {
        **BEHAVIOUR,
        "state_of_charge_entity": "sensor.home_soc",
        "battery_power_entity": "sensor.home_power",
        "battery_capacity_kwh": 8,
        "battery_power_sign": "positive_discharging",
        "target_state_of_charge_percent": 90,
        "estimate_energy_remaining": True,
        "mapping_source": "energy_dashboard",
    }
    config_entry.add_to_hass(hass)
    set_device_options(
        hass, config_entry, {CONF_DEVICE_ID: DEFAULT_DEVICE_ID, **stored}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await settle(hass)
    result = await change_mapping(hass, config_entry)
    # No dashboard battery and no battery device here: the entities form.
    assert result["step_id"] == "battery"
    shown = suggested(result)
    assert shown["battery_capacity_kwh"] == 8
    assert shown["estimate_energy_remaining"] is True
    # The target changes; the rest is saved as shown.
    result = await configure_change(
        hass,
        result,
        {
            k: v
            for k, v in {**shown, "target_state_of_charge_percent": 95}.items()
            if v is not None
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await settle(hass)
    options = device_options(config_entry)
    assert options["battery_capacity_kwh"] == 8
    assert options["estimate_energy_remaining"] is True
    assert options["mapping_source"] == "entities"
    set_sensor(hass, "sensor.home_soc", 75, "%", "battery")
    body = await last_body(hass, freezer, sandbox)
    assert body["energy_remaining_kwh"] == 6  # 8 kWh x 75 %, still estimated
    assert body["target_state_of_charge_percent"] == 95
