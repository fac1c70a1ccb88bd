"""What Flatpeak holds, read back: state, VPP participation, prices, against the sandbox.

Through Home Assistant's doors: the entities' states, the entity and device
registries, repair issues, the options flow, the clock (``advance``). The
sandbox's controls are the ones its page has (tariff, participation,
telemetry).
"""

from datetime import datetime, timedelta
from itertools import pairwise
import json
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import (
    device_registry as dr,
    entity_registry as er,
    issue_registry as ir,
)
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flatpeak.account.issues import (
    tariff_issue_id,
    telemetry_issue_id,
)
from custom_components.flatpeak.const import (
    CONF_READ_FROM_FLATPEAK,
    DOMAIN,
    SubmissionStatus,
)
from custom_components.flatpeak.reads.policy import accepted_time, lags
from custom_components.flatpeak.reads.readback import READ_ENTITY_KEYS
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox
from flatpeak_sandbox.prices import rate

from ..conftest import (
    SUBENTRY_ID,
    account_with,
    advance,
    forget_received,
    runtime_of,
    set_soc,
    settle,
    shown,
    state_of,
)

pytestmark = pytest.mark.usefixtures("at_start")

LOCATION = "loc_sandbox0000000000000001"
READS = ("state_read", "location", "vpp_participations", "prices", "device")
MINUTE = 60


def read_entity(
    hass: HomeAssistant, unique_id: str, domain: str = "sensor"
) -> str | None:
    """Return the entity ID of a read entity by its unique ID (None: none)."""
    return er.async_get(hass).async_get_entity_id(domain, DOMAIN, unique_id)


def read_state(hass: HomeAssistant, unique_id: str, domain: str = "sensor") -> State:
    """Return the state of a read entity by its unique ID."""
    entity_id = read_entity(hass, unique_id, domain)
    assert entity_id is not None, unique_id
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state


def vpp(
    hass: HomeAssistant, key: str = "vpp_participation", domain: str = "sensor"
) -> State:
    return read_state(hass, f"{DEFAULT_DEVICE_ID}_{key}", domain)


def price(
    hass: HomeAssistant, direction: str = "import", location: str = LOCATION
) -> State:
    return read_state(hass, f"{location}_{direction}_price")


def location_device(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    """Return the Home Assistant device of ``LOCATION`` in ``entry``, if any."""
    return next(
        (
            device
            for device in dr.async_entries_for_config_entry(
                dr.async_get(hass), entry.entry_id
            )
            if (DOMAIN, LOCATION) in device.identifiers
        ),
        None,
    )


async def minutes(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, count: int
) -> None:
    """Let ``count`` minutes pass, a minute at a time (every timer fires on time)."""
    for _ in range(count):
        await advance(hass, freezer, MINUTE)


def reads(sandbox: FlatpeakSandbox) -> list[str]:
    """Return the read requests the sandbox received, by endpoint name."""
    return [r.endpoint for r in sandbox.requests if r.endpoint in READS]


async def test_what_flatpeak_holds_after_setup(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
) -> None:
    now = dt_util.utcnow()
    # The newest state Flatpeak holds: the start snapshot; the power signed as
    # Flatpeak returns it (discharging 1.5 kW: negative), not as we send it.
    state = read_state(hass, f"{DEFAULT_DEVICE_ID}_state_at_flatpeak")
    assert (
        state.entity_id == "sensor.sandbox_energy_sandbox_battery_10_state_at_flatpeak"
    )
    assert state.state == "2026-11-28T10:00:10+00:00"
    assert state.attributes["battery_power_kw"] == -1.5
    assert state.attributes["state_of_charge_percent"] == 55
    assert state.attributes["target_state_of_charge_percent"] == 80
    assert state.attributes["backup_reserve_percent"] == 20
    # The VPP programme.
    participation = vpp(hass)
    assert participation.entity_id == (
        "sensor.sandbox_energy_sandbox_battery_10_vpp_participation"
    )
    assert participation.state == "active"
    assert participation.attributes["flatpeak_state"] == "ACTIVE"
    assert participation.attributes["programme"] == "Sandbox Saving Sessions"
    assert participation.attributes["provider"] == "Sandbox Flex"
    assert participation.attributes["suspension_reasons"] == []
    assert vpp(hass, "telemetry_active", "binary_sensor").state == "on"
    assert vpp(hass, "dispatchable", "binary_sensor").state == "on"
    # The prices valid now, per kWh in the location's currency.
    for direction in ("import", "export"):
        shown_price = price(hass, direction)
        assert shown_price.entity_id == (
            f"sensor.flatpeak_home_sandbox0000000000000001_{direction}_price"
        )
        assert shown_price.attributes["unit_of_measurement"] == "GBP/kWh"
        assert shown_price.attributes["state_class"] == "measurement"
        assert "device_class" not in shown_price.attributes
        assert float(shown_price.state) == rate(now, direction.upper())
        assert shown_price.attributes["forecast"] is False
        assert shown_price.attributes["slot_start"] == "2026-11-28T10:00:00+00:00"
        assert shown_price.attributes["slot_end"] == "2026-11-28T16:00:00+00:00"
        slots = shown_price.attributes["slots"]
        assert slots[0]["start"] == "2026-11-28T10:00:00+00:00"
        assert 1 < len(slots) <= 96
        # A day ahead of the current slot (actual prices, the sandbox's 24 h).
        assert datetime.fromisoformat(slots[-1]["start"]) < now + timedelta(hours=24)
        assert not any(slot["forecast"] for slot in slots)
    # The prices belong to the location, an account-level device (a service).
    location = location_device(hass, init_integration)
    assert location is not None
    assert location.name == "Flatpeak home-sandbox0000000000000001"
    assert location.entry_type is dr.DeviceEntryType.SERVICE
    assert location.model == "Location"


async def test_setup_reads_each_thing_once(
    hass: HomeAssistant,
    battery: None,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await shown(hass, freezer)
    assert sorted(reads(sandbox)) == sorted(
        ["device", "location", "prices", "prices", "vpp_participations", "state_read"]
    )
    # The prices of a location are read without a device (the location's).
    for request in sandbox.requests_to("prices"):
        assert request.body["location_id"] == LOCATION
        assert "device_id" not in request.body


async def test_the_price_changes_at_a_slot_boundary_from_memory(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    # 10:00 to 16:00 is one slot of the sandbox's curve, the peak starts at 16:00.
    freezer.move_to("2026-11-28T15:59:00+00:00")
    await advance(hass, freezer, 0)
    before = len(sandbox.requests_to("prices"))
    assert float(price(hass).state) == rate(dt_util.utcnow(), "IMPORT")
    await advance(hass, freezer, 61)
    peak = rate(dt_util.utcnow(), "IMPORT")
    assert peak > rate(dt_util.utcnow() - timedelta(minutes=2), "IMPORT")
    assert float(price(hass).state) == peak
    assert price(hass).attributes["slots"][0]["start"] == "2026-11-28T16:00:00+00:00"
    assert len(sandbox.requests_to("prices")) == before  # no request for it


async def test_forecasts_are_flagged(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Flatpeak's answer has an actual price now and a forecast after it."""
    answer = {
        "object": "price",
        "location_id": LOCATION,
        "currency_code": "GBP",
        "tariff_direction": "IMPORT",
        "last_updated": "2026-11-28T09:00:00Z",
        "data": [
            {
                "valid_from": "2026-11-28T12:00:00Z",
                "valid_to": "2026-11-28T12:30:00Z",
                "price": {"value": 0.21, "confidence": 1},
            },
            {
                "valid_from": "2026-11-28T12:30:00Z",
                "valid_to": "2026-11-28T13:00:00Z",
                "price": {"value": 0.19, "confidence": 0.8},
            },
        ],
    }
    # (both directions get it: the two reads come together)
    sandbox.fail_next(200, 2, endpoint="prices", body=json.dumps(answer))
    await minutes(hass, freezer, 121)  # the next read, at 12:00
    shown_price = price(hass)
    assert float(shown_price.state) == 0.21
    assert shown_price.attributes["forecast"] is False
    assert shown_price.attributes["confidence"] == 1
    assert shown_price.attributes["last_updated"] == "2026-11-28T09:00:00+00:00"
    assert shown_price.attributes["slots"] == [
        {
            "start": "2026-11-28T12:00:00+00:00",
            "end": "2026-11-28T12:30:00+00:00",
            "value": 0.21,
            "confidence": 1,
            "forecast": False,
        },
        {
            "start": "2026-11-28T12:30:00+00:00",
            "end": "2026-11-28T13:00:00+00:00",
            "value": 0.19,
            "confidence": 0.8,
            "forecast": True,
        },
    ]
    await minutes(hass, freezer, 30)
    assert float(price(hass).state) == 0.19
    assert price(hass).attributes["forecast"] is True
    # Past the last slot known, no price; with so few prices ahead, the next
    # read comes after an hour (13:00), not two.
    requests = len(sandbox.requests_to("prices"))
    await minutes(hass, freezer, 28)
    await advance(hass, freezer, 55)  # 13:00:05
    assert price(hass).state == "unknown"
    assert len(sandbox.requests_to("prices")) == requests
    await minutes(hass, freezer, 1)
    assert len(sandbox.requests_to("prices")) == requests + 2
    assert float(price(hass).state) == rate(dt_util.utcnow(), "IMPORT")


async def test_prices_are_read_every_two_hours(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    for _ in range(119):
        await advance(hass, freezer, MINUTE)
    assert sandbox.requests_to("prices") == []
    await minutes(hass, freezer, 2)
    assert sorted(
        r.body["tariff_direction"] for r in sandbox.requests_to("prices")
    ) == [
        "EXPORT",
        "IMPORT",
    ]


async def test_vpp_entities_follow_the_participation(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    unique_ids = [
        ("sensor", f"{DEFAULT_DEVICE_ID}_vpp_participation"),
        ("binary_sensor", f"{DEFAULT_DEVICE_ID}_telemetry_active"),
        ("binary_sensor", f"{DEFAULT_DEVICE_ID}_dispatchable"),
    ]
    # No participation: the entities go (from the registry too).
    sandbox.reads.apply_control({"participation": "none"})
    await minutes(hass, freezer, 15)
    assert [read_entity(hass, uid, domain) for domain, uid in unique_ids] == [None] * 3
    assert not [
        s for s in hass.states.async_all() if "vpp_participation" in s.entity_id
    ]
    # One again: they come back, with the same entity IDs.
    sandbox.reads.apply_control({"participation": "active"})
    await minutes(hass, freezer, 15)
    assert (
        vpp(hass).entity_id
        == "sensor.sandbox_energy_sandbox_battery_10_vpp_participation"
    )
    assert vpp(hass).state == "active"
    # Suspended at the customer's request: not dispatchable, and why.
    sandbox.reads.apply_control(
        {"participation": "suspended", "reason": "CUSTOMER_REQUEST"}
    )
    await minutes(hass, freezer, 15)
    assert vpp(hass).state == "suspended"
    assert vpp(hass).attributes["suspension_reasons"] == ["CUSTOMER_REQUEST"]
    assert vpp(hass).attributes["description"] == "Paused at your request."
    assert vpp(hass, "dispatchable", "binary_sensor").state == "off"
    # Telemetry inactive while Flatpeak accepts our records: a repair issue.
    sandbox.reads.apply_control({"telemetry_active": False})
    await minutes(hass, freezer, 15)
    assert vpp(hass, "telemetry_active", "binary_sensor").state == "off"
    issue = issue_registry.async_get_issue(DOMAIN, telemetry_issue_id(SUBENTRY_ID))
    assert issue is not None
    assert issue.translation_key == "telemetry_inactive"
    assert issue.translation_placeholders is not None
    assert (
        issue.translation_placeholders["title"] == "Sandbox Energy Sandbox Battery 10"
    )
    assert issue.translation_placeholders["programme"] == "Sandbox Saving Sessions"
    # Delivery is untouched by all this.
    assert state_of(hass, "submission_status") == "ok"
    sandbox.reads.apply_control({"telemetry_active": True})
    await minutes(hass, freezer, 15)
    assert vpp(hass, "telemetry_active", "binary_sensor").state == "on"
    assert (
        issue_registry.async_get_issue(DOMAIN, telemetry_issue_id(SUBENTRY_ID)) is None
    )
    # At most one read every 15 minutes: five in 75 minutes.
    assert len(sandbox.requests_to("vpp_participations")) == 5


async def test_an_undocumented_vpp_state_shows_as_other(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    sandbox.reads.apply_control({"participation": "none"})
    sandbox.reads.vpp.add_older(DEFAULT_DEVICE_ID, current_state="PAUSED_FOR_WINTER")
    await minutes(hass, freezer, 15)
    assert vpp(hass).state == "other"
    assert vpp(hass).attributes["flatpeak_state"] == "PAUSED_FOR_WINTER"


async def test_no_tariff_connected(
    hass: HomeAssistant,
    battery: None,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    sandbox.reads.apply_control({"tariff": "not_connected", "direction": "EXPORT"})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await shown(hass, freezer)
    issue_id = tariff_issue_id(config_entry.entry_id, LOCATION, "EXPORT")
    # No price, and why; a repair issue explains how to connect a tariff.
    assert price(hass, "export").state == "unknown"
    assert price(hass, "export").attributes["reason"] == "no_tariff_connected"
    assert price(hass, "export").attributes["unit_of_measurement"] == "GBP/kWh"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "no_tariff_connected_export"
    assert issue.translation_placeholders == {
        "location_id": LOCATION,
        "account": config_entry.title,
    }
    assert float(price(hass, "import").state) == rate(dt_util.utcnow(), "IMPORT")
    assert (
        issue_registry.async_get_issue(
            DOMAIN, tariff_issue_id(config_entry.entry_id, LOCATION, "IMPORT")
        )
        is None
    )
    # Asked again an hour later (no sooner: the budget), then an hour after that.
    sandbox.reads.apply_control({"tariff": "pending", "direction": "EXPORT"})
    forget_received(sandbox)
    await minutes(hass, freezer, 59)
    assert [r.body["tariff_direction"] for r in sandbox.requests_to("prices")] == []
    await minutes(hass, freezer, 2)
    assert len(sandbox.requests_to("prices")) == 1
    assert price(hass, "export").attributes["reason"] == "pending_connect"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    sandbox.reads.apply_control({"tariff": "connected", "direction": "EXPORT"})
    await minutes(hass, freezer, 57)
    assert len(sandbox.requests_to("prices")) == 1
    await minutes(hass, freezer, 2)
    assert float(price(hass, "export").state) == rate(dt_util.utcnow(), "EXPORT")
    assert "reason" not in price(hass, "export").attributes


async def test_a_failing_read_never_touches_delivery(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    for endpoint in ("state_read", "vpp_participations", "prices", "location"):
        sandbox.fail_next(500, 1000, endpoint=endpoint)
    delivered = len(sandbox.states())
    price_reads: list[datetime] = []
    for minute in range(180):
        set_soc(hass, 50 + minute % 10)
        before = len(sandbox.requests_to("prices"))
        await advance(hass, freezer, MINUTE)
        if len(sandbox.requests_to("prices")) > before:
            price_reads.append(dt_util.utcnow())
    # Delivery went on as if nothing happened.
    assert len(sandbox.states()) >= delivered + 180 // 5
    runtime = runtime_of(init_integration)
    assert not runtime.outbox
    assert runtime.status.current.status is SubmissionStatus.OK
    assert runtime.status.current.consecutive_failures == 0
    assert state_of(hass, "submission_status") == "ok"
    assert state_of(hass, "api_connection", "binary_sensor") == "on"
    # The reads failed: their entities say so, but the price known for now shows.
    assert (
        read_state(hass, f"{DEFAULT_DEVICE_ID}_state_at_flatpeak").state
        == "unavailable"
    )
    assert vpp(hass).state == "unavailable"
    assert float(price(hass).state) == rate(dt_util.utcnow(), "IMPORT")
    # Failed price reads are 15 minutes apart or more (15, 30, 60 min...).
    gaps = [later - earlier for earlier, later in pairwise(price_reads)]
    assert price_reads
    assert all(gap >= timedelta(minutes=15) for gap in gaps), gaps
    # Back: the next reads show it.
    sandbox.clear_faults()
    for _ in range(60):
        await advance(hass, freezer, MINUTE)
    assert vpp(hass).state == "active"
    assert (
        read_state(hass, f"{DEFAULT_DEVICE_ID}_state_at_flatpeak").state
        != "unavailable"
    )


async def test_a_refused_token_on_a_read_is_the_accounts_reauth(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    # The token is refused on the read, and again after a fresh one.
    sandbox.fail_next(401, 2, endpoint="vpp_participations")
    await minutes(hass, freezer, 15)
    assert [
        flow["context"]["source"] for flow in hass.config_entries.flow.async_progress()
    ] == ["reauth"]
    assert init_integration.runtime_data.credentials_refused_verdict is not None
    assert runtime_of(init_integration).sender.state == "paused"
    # Meanwhile, nothing is read (the account rechecks its credentials hourly).
    forget_received(sandbox)
    await minutes(hass, freezer, 30)
    assert reads(sandbox) == []


async def test_the_status_says_when_flatpeak_lags(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    stale = {
        "id": "dsr_stale",
        "object": "device_state",
        "time": "2026-11-28T09:30:00Z",
        "state_of_charge_percent": 40,
        "target_state_of_charge_percent": 80,
    }
    sandbox.fail_next(200, endpoint="state_read", body=json.dumps(stale))
    await minutes(hass, freezer, 15)
    await shown(hass, freezer)
    assert state_of(hass, "submission_status") == "lagging"
    at_flatpeak = read_state(hass, f"{DEFAULT_DEVICE_ID}_state_at_flatpeak")
    assert at_flatpeak.state == "2026-11-28T09:30:00+00:00"  # shown at once
    assert at_flatpeak.attributes["state_of_charge_percent"] == 40
    # Flatpeak catches up: the status is ok again.
    await minutes(hass, freezer, 15)
    await shown(hass, freezer)
    assert state_of(hass, "submission_status") == "ok"
    assert read_state(hass, f"{DEFAULT_DEVICE_ID}_state_at_flatpeak").state.startswith(
        "2026-11-28T10:"
    )


async def test_state_at_flatpeak_advances_hourly_while_all_is_well(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    entity_id = read_entity(hass, f"{DEFAULT_DEVICE_ID}_state_at_flatpeak")
    assert entity_id is not None
    first = hass.states.get(entity_id)
    assert first is not None
    await minutes(hass, freezer, 30)  # at start, then every 15 minutes
    assert len(sandbox.requests_to("state_read")) == 2
    assert hass.states.get(entity_id) == first
    await minutes(hass, freezer, 31)
    later = hass.states.get(entity_id)
    assert later is not None
    assert datetime.fromisoformat(later.state) - datetime.fromisoformat(
        first.state
    ) >= timedelta(hours=1)


async def test_no_state_read_without_deliveries(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    sandbox.outage = True  # nothing is accepted: Flatpeak's state cannot change
    await minutes(hass, freezer, 10)
    forget_received(sandbox)
    sandbox.outage = False
    runtime_of(init_integration).sender.stop()  # and nothing is delivered
    await minutes(hass, freezer, 30)
    assert sandbox.requests_to("state_read") == []


@pytest.mark.parametrize("account_options", [{CONF_READ_FROM_FLATPEAK: False}])
async def test_reads_off_send_no_read_request(
    hass: HomeAssistant,
    battery: None,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    for _ in range(24):
        set_soc(hass, 60)
        await minutes(hass, freezer, 5)
    assert reads(sandbox) == ["device"]  # the lookup at start, delivery's
    assert config_entry.runtime_data.reads is None
    assert not [
        e
        for e in er.async_entries_for_config_entry(
            er.async_get(hass), config_entry.entry_id
        )
        if e.unique_id.endswith(READ_ENTITY_KEYS)
    ]
    assert len(sandbox.states()) >= 24


async def test_the_option_switches_the_reads(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
    issue_registry: ir.IssueRegistry,
) -> None:
    sandbox.reads.apply_control({"tariff": "not_connected"})
    sandbox.reads.apply_control({"telemetry_active": False})
    await minutes(hass, freezer, 120)
    assert issue_registry.async_get_issue(DOMAIN, telemetry_issue_id(SUBENTRY_ID))
    # The account's options, as the UI shows them: on by default.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] == "form"
    assert result["step_id"] == "init"
    assert result["description_placeholders"] == {"title": init_integration.title}
    [field] = result["data_schema"].schema
    assert field == CONF_READ_FROM_FLATPEAK
    assert field.default() is True
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_READ_FROM_FLATPEAK: False}
    )
    assert result["type"] == "create_entry"
    await settle(hass)
    assert init_integration.state is ConfigEntryState.LOADED
    assert init_integration.runtime_data.reads is None
    # The read entities, the location's device and the read issues are gone.
    assert not [
        e
        for e in er.async_entries_for_config_entry(
            er.async_get(hass), init_integration.entry_id
        )
        if e.unique_id.endswith(READ_ENTITY_KEYS)
    ]
    assert location_device(hass, init_integration) is None
    assert not [
        issue
        for (domain, _), issue in issue_registry.issues.items()
        if domain == DOMAIN
    ]
    forget_received(sandbox)
    await minutes(hass, freezer, 120)
    assert reads(sandbox) == []
    # On again: the entities come back with their IDs.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_READ_FROM_FLATPEAK: True}
    )
    await shown(hass, freezer)
    assert price(hass, "import").entity_id == (
        "sensor.flatpeak_home_sandbox0000000000000001_import_price"
    )
    assert vpp(hass).state == "active"


async def test_devices_at_one_location_share_one_set_of_prices(
    hass: HomeAssistant,
    battery: None,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    device_registry: dr.DeviceRegistry,
) -> None:
    entry = account_with(sandbox, "dev_demo1", "dev_demo2")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await shown(hass, freezer)
    # One location read, one price read per direction, for both devices.
    assert len(sandbox.requests_to("location")) == 1
    assert len(sandbox.requests_to("prices")) == 2
    locations = [
        device
        for device in dr.async_entries_for_config_entry(device_registry, entry.entry_id)
        if device.entry_type is dr.DeviceEntryType.SERVICE
    ]
    assert [device.name for device in locations] == ["Flatpeak home-demo_home"]
    prices = [
        e.entity_id
        for e in er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id)
        if e.unique_id.endswith("_price")
    ]
    assert sorted(prices) == [
        "sensor.flatpeak_home_demo_home_export_price",
        "sensor.flatpeak_home_demo_home_import_price",
    ]
    for entity_id in prices:
        registered = er.async_get(hass).async_get(entity_id)
        assert registered is not None
        assert registered.config_subentry_id is None  # the account's
    # Each device has its own state and programme.
    for title in ("sandbox_energy_powerbank_5", "acme_storage_home_13_5"):
        state = hass.states.get(f"sensor.{title}_vpp_participation")
        assert state is not None
        assert state.state == "active"


async def test_a_device_whose_lookup_failed_finds_its_location_later(
    hass: HomeAssistant,
    battery: None,
    config_entry: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    # The lookup at start and the first lookup of the reads fail.
    sandbox.fail_next(503, 2, endpoint="device")
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await shown(hass, freezer)
    assert read_entity(hass, f"{LOCATION}_import_price") is None
    assert len(sandbox.states()) == 1  # delivery did not wait
    await minutes(hass, freezer, 15)
    assert float(price(hass).state) == rate(dt_util.utcnow(), "IMPORT")


@pytest.mark.parametrize("account_options", [{CONF_READ_FROM_FLATPEAK: False}])
async def test_diagnostics_without_reads(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
) -> None:
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    assert diagnostics["account"]["read_from_flatpeak"] is False
    assert diagnostics["account"]["options"] == {CONF_READ_FROM_FLATPEAK: False}
    assert diagnostics["account"]["locations"] == {}
    assert diagnostics["devices"][SUBENTRY_ID]["reads"] is None


async def test_asking_for_a_price_now(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    """``homeassistant.update_entity`` reads the prices now (a user, an automation)."""
    assert await async_setup_component(hass, "homeassistant", {})
    await hass.services.async_call(
        "homeassistant",
        "update_entity",
        {"entity_id": price(hass).entity_id},
        blocking=True,
    )
    await settle(hass)
    assert [r.body["tariff_direction"] for r in sandbox.requests_to("prices")] == [
        "IMPORT"
    ]


async def test_update_entity_shows_the_sandbox_controls_at_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """``homeassistant.update_entity`` reads the VPP participation and the state now.

    What the README tells a user of the sandbox page (F4): its controls show
    at the next scheduled read, or at once with ``update_entity``.
    """
    assert await async_setup_component(hass, "homeassistant", {})
    await minutes(hass, freezer, 1)
    forget_received(sandbox)
    sandbox.reads.apply_control({"telemetry_active": False})
    await hass.services.async_call(
        "homeassistant",
        "update_entity",
        {"entity_id": vpp(hass, "telemetry_active", "binary_sensor").entity_id},
        blocking=True,
    )
    await settle(hass)
    assert len(sandbox.requests_to("vpp_participations")) == 1
    assert vpp(hass, "telemetry_active", "binary_sensor").state == "off"
    # The state at Flatpeak: read now when a record was accepted since the last read.
    at_flatpeak = read_entity(hass, f"{DEFAULT_DEVICE_ID}_state_at_flatpeak")
    assert at_flatpeak is not None
    set_soc(hass, 77)
    await minutes(hass, freezer, 1)
    assert sandbox.requests_to("state")  # accepted
    assert sandbox.requests_to("state_read") == []  # the next read is 15 min on
    await hass.services.async_call(
        "homeassistant", "update_entity", {"entity_id": at_flatpeak}, blocking=True
    )
    await settle(hass)
    assert len(sandbox.requests_to("state_read")) == 1


def test_what_an_accepted_record_says() -> None:
    """The last accepted record's time, from its body; a body without one says nothing."""
    assert accepted_time({"time": "2026-11-28T10:00:10Z"}) == datetime.fromisoformat(
        "2026-11-28T10:00:10+00:00"
    )
    assert accepted_time(None) is None
    assert accepted_time({"time": "yesterday"}) is None
    assert not lags(datetime.fromisoformat("2026-11-28T10:00:00+00:00"), None)


async def test_a_location_no_device_is_at_goes_with_its_prices_and_issue(
    hass: HomeAssistant,
    battery: None,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    sandbox.reads.apply_control({"tariff": "not_connected", "direction": "EXPORT"})
    entry = account_with(sandbox, DEFAULT_DEVICE_ID, "dev_demo3")
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await shown(hass, freezer)
    barn = tariff_issue_id(entry.entry_id, "loc_demo_barn", "EXPORT")
    home = tariff_issue_id(entry.entry_id, LOCATION, "EXPORT")
    assert issue_registry.async_get_issue(DOMAIN, barn)
    assert issue_registry.async_get_issue(DOMAIN, home)
    assert read_entity(hass, "loc_demo_barn_import_price")
    [barn_device] = [
        subentry_id
        for subentry_id, subentry in entry.subentries.items()
        if subentry.unique_id == "dev_demo3"
    ]
    assert hass.config_entries.async_remove_subentry(entry, barn_device)
    await shown(hass, freezer)
    assert read_entity(hass, "loc_demo_barn_import_price") is None
    assert issue_registry.async_get_issue(DOMAIN, barn) is None
    assert issue_registry.async_get_issue(DOMAIN, home)
    assert read_entity(hass, f"{LOCATION}_import_price")


async def test_a_read_answered_429_waits_as_long_as_flatpeak_asks(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A 429 on a read with ``Retry-After: 3600``: no read of it for an hour."""
    sandbox.fail_next(429, 1, endpoint="vpp_participations", retry_after="3600")
    await minutes(hass, freezer, 16)  # the next VPP read (15 min) is refused
    assert [r.status for r in sandbox.requests_to("vpp_participations")][-1] == 429
    forget_received(sandbox)
    await minutes(hass, freezer, 58)
    assert sandbox.requests_to("vpp_participations") == []
    await minutes(hass, freezer, 3)
    assert [r.status for r in sandbox.requests_to("vpp_participations")] == [200]
