"""Fault injection against the sandbox: no record lost, none duplicated.

After each scenario the sandbox holds every snapshot exactly once, the current
state first and the backlog oldest first, the drain ending with the current
state, and the diagnostic entities told the truth meanwhile.
"""

from datetime import timedelta
from email.utils import format_datetime
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant import loader
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    async_fire_time_changed_exact,
    async_test_home_assistant,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flatpeak.const import CONF_SECRET_KEY, CONF_SOC_ENTITY, DOMAIN
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from ..conftest import (
    SOC,
    START,
    SUBENTRY_ID,
    Clocks,
    advance,
    device_options,
    device_subentry_data,
    drain,
    runtime_of,
    set_battery,
    set_device_options,
    set_soc,
    settle,
    shown,
    state_of,
)

pytestmark = pytest.mark.usefixtures("at_start")


def queued_bodies(entry: MockConfigEntry) -> list[dict[str, Any]]:
    return [state.to_json() for state in runtime_of(entry).outbox]


def assert_exactly_once_current_first(
    sandbox: FlatpeakSandbox,
    queued: list[dict[str, Any]],
    before: list[dict[str, Any]] | None = None,
) -> None:
    """Check the delivery of ``queued`` (a backlog) after ``before``.

    Exactly once; the newest queued record (or a snapshot taken since) first,
    before the backlog; the rest oldest first (new snapshots may go ahead of
    them); the drain ends with the current state.
    """
    bodies = sandbox.states()
    refs = [body["record_reference_id"] for body in bodies]
    assert len(refs) == len(set(refs)), "a record reached Flatpeak twice"
    before = before or []
    assert bodies[: len(before)] == before
    after = bodies[len(before) :]
    if after[0] == queued[-1]:
        backlog = queued[:-1]
    else:  # a snapshot taken since is the current state: all of queued is old
        assert after[0] not in queued, "the current state was not sent first"
        backlog = queued
    assert [b for b in after if b in backlog] == backlog, "backlog not oldest first"
    assert after[-1] not in backlog, "the drain did not end with the current state"
    assert after[-1]["time"] == max(b["time"] for b in bodies)


async def test_thirty_minute_outage(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    set_soc(hass, 50)
    await advance(hass, freezer, 1)
    assert len(sandbox.states()) == 1
    delivered_before = sandbox.states()

    await sandbox.stop()  # connection refused from now on
    for step in range(180):  # 30 minutes, a change every 10 s
        set_soc(hass, 20 + step % 60)
        await advance(hass, freezer, 10)
        if step == 90:
            assert state_of(hass, "api_connection", "binary_sensor") == "off"
            assert state_of(hass, "submission_status") == "error"
            assert int(state_of(hass, "queued_records")) == len(
                runtime_of(init_integration).outbox
            )
    queued = queued_bodies(init_integration)
    # One snapshot per 30 s gap plus the heartbeats, every one kept.
    assert len(queued) >= 60
    assert state_of(hass, "queued_records") == str(len(queued))
    assert state_of(hass, "dropped_records") == "0"
    # log-when-unavailable: one line at info level, nothing louder.
    ours = [
        r for r in caplog.records if r.name.startswith("custom_components.flatpeak")
    ]
    assert [r.getMessage() for r in ours if r.levelno >= logging.WARNING] == []
    unavailable = [r for r in ours if "API is unavailable" in r.getMessage()]
    assert [r.levelno for r in unavailable] == [logging.INFO]

    await sandbox.start()
    await advance(hass, freezer, 600)  # the backoff is capped at 10 minutes
    await drain(hass, freezer, init_integration)
    assert_exactly_once_current_first(sandbox, queued, delivered_before)
    assert state_of(hass, "queued_records") == "0"
    assert state_of(hass, "api_connection", "binary_sensor") == "on"
    assert state_of(hass, "submission_status") == "ok"
    back = [r for r in caplog.records if "reachable again" in r.getMessage()]
    assert [r.levelno for r in back] == [logging.INFO]


async def test_503_with_retry_after(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    sandbox.fail_next(503, endpoint="state", retry_after="120")
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert state_of(hass, "submission_status") == "error"
    assert state_of(hass, "api_connection", "binary_sensor") == "off"
    await advance(hass, freezer, 119)
    assert len(sandbox.requests_to("state")) == 1  # waited, did not retry early
    await advance(hass, freezer, 1)
    assert len(sandbox.requests_to("state")) == 2
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [61]
    assert state_of(hass, "submission_status") == "ok"


@pytest.mark.parametrize("http_date", [False, True])
async def test_429_storm(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    http_date: bool,
) -> None:
    set_soc(hass, 70)
    retry_after = (
        format_datetime(START.replace(second=26), usegmt=True) if http_date else "15"
    )
    sandbox.fail_next(
        429, 1 if http_date else 5, endpoint="state", retry_after=retry_after
    )
    await advance(hass, freezer, 1)
    assert state_of(hass, "submission_status") == "rate_limited"
    assert state_of(hass, "api_connection", "binary_sensor") == "on"
    for _ in range(1 if http_date else 5):
        before = len(sandbox.requests_to("state"))
        await advance(hass, freezer, 14)
        assert len(sandbox.requests_to("state")) == before
        await advance(hass, freezer, 1)
        assert len(sandbox.requests_to("state")) == before + 1
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [70]
    assert state_of(hass, "submission_status") == "ok"


async def test_token_expiry_mid_stream(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    set_soc(hass, 40)
    await advance(hass, freezer, 1)
    sandbox.expire_tokens()
    set_soc(hass, 41)
    await advance(hass, freezer, 31)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [40, 41]
    assert [(r.endpoint, r.status) for r in sandbox.requests[-3:]] == [
        ("state", 401),
        ("token", 200),
        ("state", 200),
    ]
    assert state_of(hass, "submission_status") == "ok"
    assert not hass.config_entries.flow.async_progress()


async def test_credentials_revoked_then_restored_by_reauth(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    set_soc(hass, 30)
    await advance(hass, freezer, 1)
    sandbox.secret_key = "sk_test_rotated"  # the old key is refused from now on
    sandbox.expire_tokens()
    for value in (31, 32, 33):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    assert state_of(hass, "submission_status") == "auth_failed"
    assert len(runtime_of(init_integration).outbox) == 3
    [flow] = hass.config_entries.flow.async_progress()
    assert flow["context"]["source"] == "reauth"
    # Paused: no request per change while the credentials are refused.
    token_requests = len(sandbox.requests_to("token"))
    set_soc(hass, 34)
    await advance(hass, freezer, 31)
    assert len(sandbox.requests_to("token")) == token_requests
    expected = queued_bodies(init_integration)
    assert len(expected) == 4

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_SECRET_KEY: "sk_test_rotated"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await settle(hass)
    await drain(hass, freezer, init_integration)
    assert_exactly_once_current_first(sandbox, expected, sandbox.states()[:1])
    # No start snapshot after the reload: the newest queued record already
    # carries the current values (nothing is sent twice); the drain ends with
    # a fresh snapshot of them.
    assert len(sandbox.states()) == 6
    assert state_of(hass, "submission_status") == "ok"


async def test_device_deleted_then_reconfigured(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    for value in (10, 11, 12):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    issue_id = f"device_not_found_{SUBENTRY_ID}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert len(sandbox.requests_to("state")) == 1  # paused after the 404
    expected = queued_bodies(init_integration)
    assert [b["state_of_charge_percent"] for b in expected] == [10, 11, 12]

    sandbox.add_device(DEFAULT_DEVICE_ID)
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "account_id": sandbox.account_id,
            "secret_key": sandbox.secret_key,
            "advanced_options": {"api_url": sandbox.url},
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await settle(hass)
    await drain(hass, freezer, init_integration)
    assert_exactly_once_current_first(sandbox, expected)
    # The reload's start snapshot would repeat the newest queued values: none
    # (the drain ends with a fresh one).
    assert len(sandbox.states()) == 4
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_restart_with_a_non_empty_outbox(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    await sandbox.stop()
    for value in (80, 81, 82):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    set_soc(hass, 83)
    await hass.async_block_till_done()  # seen, still coalescing when HA stops
    expected = queued_bodies(init_integration)
    assert len(expected) == 3
    await hass.async_stop()

    async with async_test_home_assistant(config_dir=hass.config.config_dir) as hass2:
        hass2.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        set_battery(hass2, soc=83)
        entry = MockConfigEntry(
            domain=DOMAIN,
            version=2,
            entry_id=init_integration.entry_id,
            unique_id=init_integration.unique_id,
            title=init_integration.title,
            data=dict(init_integration.data),
            subentries_data=[
                device_subentry_data(
                    DEFAULT_DEVICE_ID,
                    device_options(init_integration),
                    subentry_id=SUBENTRY_ID,
                )
            ],
        )
        entry.add_to_hass(hass2)
        await sandbox.start()
        assert await hass2.config_entries.async_setup(entry.entry_id)
        await settle(hass2)
        for _ in range(80):  # the backlog waits up to 30 s
            freezer.tick(0.5)
            async_fire_time_changed(hass2)
            await settle(hass2)
        bodies = sandbox.states()
        # The change that was coalescing at shutdown was kept too; the current
        # state (the start snapshot) first, and again at the end of the drain.
        socs = [b["state_of_charge_percent"] for b in bodies]
        assert socs == [83, 80, 81, 82, 83]
        assert_exactly_once_current_first(sandbox, expected)
        assert await hass2.config_entries.async_unload(entry.entry_id)
        await hass2.async_stop(force=True)


async def test_a_clock_step_forward_of_a_day_drops_nothing(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    clocks: Clocks,
) -> None:
    """Fails on 0.2.0: the step dropped the whole backlog by the 24 h age bound."""
    await sandbox.stop()
    for value in range(6):
        set_soc(hass, 40 + value)
        await clocks.advance(31)
    queued = queued_bodies(init_integration)
    assert len(queued) == 6
    # NTP on a host without a real-time clock: the wall clock jumps a day.
    await clocks.step(timedelta(days=1))
    set_soc(hass, 50)  # queued: the bounds are checked
    await clocks.advance(31)
    assert queued_bodies(init_integration)[:6] == queued
    assert state_of(hass, "dropped_records") == "0"
    await sandbox.start()
    await clocks.advance(600)
    await clocks.drain(init_integration)
    bodies = sandbox.states()
    assert all(body in bodies for body in queued)
    assert state_of(hass, "dropped_records") == "0"


async def test_the_age_bound_counts_time_that_really_passed(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    clocks: Clocks,
) -> None:
    await sandbox.stop()
    set_soc(hass, 33)
    await clocks.advance(1)
    [first] = queued_bodies(init_integration)
    # A day and a bit of outage, on both clocks: the first record goes.
    for _ in range(25):
        await clocks.advance(3600)
    assert first not in queued_bodies(init_integration)
    assert int(state_of(hass, "dropped_records")) >= 1


async def test_renamed_entity_keeps_working(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    entity_registry: er.EntityRegistry,
) -> None:
    entity_registry.async_get_or_create(
        "sensor", "demo", "soc-1", suggested_object_id="battery_soc_2"
    )
    # Map a registered entity (the account reloads), then rename it.
    set_device_options(
        hass,
        init_integration,
        {**device_options(init_integration), CONF_SOC_ENTITY: "sensor.battery_soc_2"},
    )
    await settle(hass)
    entity_registry.async_update_entity(
        "sensor.battery_soc_2", new_entity_id="sensor.home_battery_soc"
    )
    await settle(hass)
    assert device_options(init_integration)[CONF_SOC_ENTITY] == (
        "sensor.home_battery_soc"
    )
    assert init_integration.state is ConfigEntryState.LOADED
    hass.states.async_set(
        "sensor.home_battery_soc",
        "66",
        {"unit_of_measurement": "%", "device_class": "battery"},
    )
    await advance(hass, freezer, 1)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [66]


async def test_missing_entity_raises_a_fixable_repair_issue(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    from homeassistant.components.repairs import DOMAIN as REPAIRS
    from homeassistant.setup import async_setup_component

    assert await async_setup_component(hass, REPAIRS, {})
    await hass.async_block_till_done()  # repairs platforms load in the background
    issue_id = f"mapping_broken_{SUBENTRY_ID}"
    hass.states.async_remove("sensor.battery_power")
    await advance(hass, freezer, 1)
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders["entities"] == "sensor.battery_power"
    # The optional power is left out meanwhile; the rest still flows.
    assert "battery_power_kw" not in sandbox.states()[-1]

    # A unit that cannot be converted any more is a problem too.
    hass.states.async_set("sensor.battery_power", "5", {"unit_of_measurement": "A"})
    await advance(hass, freezer, 31)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None

    client = await hass_client()

    async def fix(url: str, payload: dict[str, Any]) -> dict[str, Any]:
        response = await client.post(url, json=payload)
        assert response.status == 200, await response.text()
        return dict(await response.json())

    flow = await fix(
        "/api/repairs/issues/fix", {"handler": DOMAIN, "issue_id": issue_id}
    )
    assert flow["step_id"] == "battery"
    options = dict(device_options(init_integration))
    mapping = {
        k: options[k]
        for k in (
            "state_of_charge_entity",
            "target_state_of_charge_entity",
            "battery_power_sign",
            "energy_remaining_entity",
            "backup_reserve_percent",
        )
    }
    flow = await fix(
        f"/api/repairs/issues/fix/{flow['flow_id']}",
        {**mapping, "battery_power_entity": SOC},
    )
    assert flow["errors"] == {"battery_power_entity": "invalid_power_unit"}
    flow = await fix(f"/api/repairs/issues/fix/{flow['flow_id']}", mapping)
    assert flow["type"] == "create_entry"
    await settle(hass)
    assert "battery_power_entity" not in device_options(init_integration)
    assert device_options(init_integration)["min_interval"] == 30
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_issue_clears_when_the_entity_is_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    issue_id = f"mapping_broken_{SUBENTRY_ID}"
    hass.states.async_remove("sensor.battery_energy")
    await advance(hass, freezer, 1)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    hass.states.async_set("sensor.battery_energy", "5", {"unit_of_measurement": "kWh"})
    await advance(hass, freezer, 31)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


# --- a floor under every retry -------------------------------------------------

PAST = format_datetime(START.replace(year=2025), usegmt=True)


@pytest.mark.parametrize(
    ("status", "retry_after", "least", "most"),
    [
        (503, "0", 12, 16),  # at most one request a second (the Retry-After floor)
        (503, "-5", 12, 16),
        (503, PAST, 12, 16),
        (429, "0", 4, 16),  # and the pace after a 429 slows it further
        (502, PAST, 2, 3),  # not a Retry-After status: the backoff, 5 s at least
        (500, "0", 2, 3),
        (504, None, 2, 3),
    ],
)
async def test_no_request_storm(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    status: int,
    retry_after: str | None,
    least: int,
    most: int,
) -> None:
    # Enough failures for a storm, few enough that one ends (unfixed code).
    sandbox.fail_next(status, 300, endpoint="state", retry_after=retry_after)
    set_soc(hass, 61)
    await advance(hass, freezer, 1)  # the change is taken and tried
    for _ in range(150):  # 15 s of simulated time, each timer fired when due
        freezer.tick(0.1)
        async_fire_time_changed_exact(hass)
        await settle(hass)
    puts = len(sandbox.requests_to("state"))
    assert least <= puts <= most
    assert sandbox.states() == []
    assert len(runtime_of(init_integration).outbox) == 1


async def test_500_ignores_its_retry_after(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Only 429 and 503 follow Retry-After: a 500 asking for 120 s backs off."""
    sandbox.fail_next(500, endpoint="state", retry_after="120")
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    await advance(hass, freezer, 4)
    assert len(sandbox.requests_to("state")) == 1  # the backoff's floor: 5 s
    await advance(hass, freezer, 6)  # the first step is at most 10 s
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [61]


@pytest.mark.parametrize("skew", [timedelta(hours=-1), timedelta(hours=3)])
async def test_retry_after_date_read_against_the_servers_clock(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    skew: timedelta,
) -> None:
    # The PUT happens at START + 1 s; the server's clock is off by ``skew``.
    server_now = START + timedelta(seconds=1) + skew
    sandbox.fail_next(
        503,
        endpoint="state",
        headers={
            "Date": format_datetime(server_now, usegmt=True),
            "Retry-After": format_datetime(
                server_now + timedelta(seconds=30), usegmt=True
            ),
        },
    )
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert len(sandbox.requests_to("state")) == 1
    await advance(hass, freezer, 29)
    assert len(sandbox.requests_to("state")) == 1
    await advance(hass, freezer, 1)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [61]


# --- paused: checked again on its own -------------------------------------------


async def test_unknown_device_rechecked_until_it_is_back(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """A 404 (a CDN page, a device restored) does not stop a home for days."""
    sandbox.unknown_device = True
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    issue_id = f"device_not_found_{SUBENTRY_ID}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert state_of(hass, "last_error") == "device_not_found"
    # Checked after 1 min, then 2, 4, 8… (doubling up to an hour).
    lookups: list[int] = []
    for second in range(1, 60 + 120 + 240 + 2):
        before = len(sandbox.requests_to("device"))
        await advance(hass, freezer, 1)
        if len(sandbox.requests_to("device")) > before:
            lookups.append(second)
    assert lookups == [60, 180, 420]
    assert sandbox.requests_to("state")[1:] == []  # nothing sent meanwhile
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert state_of(hass, "last_error") == "device_not_found"

    sandbox.unknown_device = False
    await advance(hass, freezer, 480)
    assert [b["state_of_charge_percent"] for b in sandbox.states()][:1] == [61]
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    await drain(hass, freezer, init_integration)  # then the backlog
    assert state_of(hass, "submission_status") == "ok"
    assert state_of(hass, "queued_records") == "0"
    assert state_of(hass, "api_connection", "binary_sensor") == "on"


async def test_wrong_api_url_rechecked_until_a_token_is_issued(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The token endpoint answering 404 (a firewall page) pauses, then resumes."""
    sandbox.expire_tokens()
    sandbox.fail_next(404, 2, endpoint="token")  # at the PUT, and the first check
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert state_of(hass, "submission_status") == "wrong_api_url"
    await advance(hass, freezer, 60)  # the first check: still 404
    assert state_of(hass, "submission_status") == "wrong_api_url"
    assert [r.status for r in sandbox.requests_to("token")] == [404, 404]
    await advance(hass, freezer, 119)
    assert len(sandbox.requests_to("token")) == 2
    await advance(hass, freezer, 1)  # two minutes later: a token, delivery resumes
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [61]
    await shown(hass, freezer)
    assert state_of(hass, "submission_status") == "ok"


async def test_refused_credentials_tried_again_every_hour(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A key revoked by mistake and restored: delivery resumes on its own."""
    sandbox.set_reject_credentials(True)
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert state_of(hass, "submission_status") == "auth_failed"
    [flow] = hass.config_entries.flow.async_progress()
    assert flow["context"]["source"] == "reauth"
    tokens = len(sandbox.requests_to("token"))
    await advance(hass, freezer, 3599)
    assert len(sandbox.requests_to("token")) == tokens
    await advance(hass, freezer, 1)  # an hour later: tried again, still refused
    assert len(sandbox.requests_to("token")) == tokens + 1
    assert state_of(hass, "submission_status") == "auth_failed"
    assert len(hass.config_entries.flow.async_progress()) == 1

    sandbox.set_reject_credentials(False)
    await advance(hass, freezer, 3600)
    assert [b["state_of_charge_percent"] for b in sandbox.states()][:1] == [61]
    await drain(hass, freezer, init_integration)  # then the backlog
    assert state_of(hass, "submission_status") == "ok"
    # The reauth request is gone: the credentials work again.
    assert hass.config_entries.flow.async_progress() == []


async def test_no_recheck_after_unload(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    sandbox.unknown_device = True
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    assert state_of(hass, "last_error") == "device_not_found"
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    requests = len(sandbox.requests)
    await advance(hass, freezer, 7200)
    assert len(sandbox.requests) == requests


async def test_recheck_meets_another_problem(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Paused for the device, the check finds the credentials refused too."""
    sandbox.unknown_device = True
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    issue_id = f"device_not_found_{SUBENTRY_ID}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    sandbox.set_reject_credentials(True)
    await advance(hass, freezer, 60)
    await shown(hass, freezer)
    assert state_of(hass, "submission_status") == "auth_failed"
    [flow] = hass.config_entries.flow.async_progress()
    assert flow["context"]["source"] == "reauth"
    # Both fixed: the hourly credentials check resumes; nothing is left over.
    sandbox.set_reject_credentials(False)
    sandbox.unknown_device = False
    await advance(hass, freezer, 3600)
    assert [b["state_of_charge_percent"] for b in sandbox.states()][:1] == [61]
    await drain(hass, freezer, init_integration)  # then the backlog
    assert state_of(hass, "submission_status") == "ok"
    assert hass.config_entries.flow.async_progress() == []
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_a_404_to_the_put_alone_is_rechecked_with_a_doubling_wait(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A CDN answers 404 to the PUT only: every lookup of the device passes.

    A passed check resumes, but only an accepted submission proves the device
    back: the PUT's 404 again continues the checks with the doubling wait
    (it used to start them over: a PUT, an ERROR line and the repair issue
    raised again every minute, for as long as the CDN answered so).
    """
    issue_id = f"device_not_found_{SUBENTRY_ID}"
    sandbox.fail_next(404, 10_000, endpoint="state")
    raised = 0

    def count(event: Any) -> None:
        nonlocal raised
        if event.data["issue_id"] == issue_id and event.data["action"] == "create":
            raised += 1

    hass.bus.async_listen(ir.EVENT_REPAIRS_ISSUE_REGISTRY_UPDATED, count)
    set_soc(hass, 61)
    for _ in range(120):  # two hours
        await advance(hass, freezer, 60)
    puts = len(sandbox.requests_to("state"))
    paused = caplog.text.count("Submissions to Flatpeak paused")
    # Checked after 1, 3, 7, 15, 31 and 63 minutes (was: 120 of each).
    assert (puts, paused, raised) == (7, 1, 1)
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    assert state_of(hass, "last_error") == "device_not_found"

    sandbox.clear_faults()  # the next check, after 127 minutes, resumes
    for _ in range(8):
        await advance(hass, freezer, 60)
    assert [b["state_of_charge_percent"] for b in sandbox.states()][:1] == [61]
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None
    await drain(hass, freezer, init_integration)
    assert state_of(hass, "submission_status") == "ok"
