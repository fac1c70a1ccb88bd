"""The flatpeak.submit_device_state action and the Submit now button."""

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.flatpeak.const import DOMAIN
from custom_components.flatpeak.delivery import retry
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from .conftest import (
    BEHAVIOUR,
    MAPPING,
    SECOND,
    SOC,
    Clocks,
    RandomSource,
    account_data,
    advance,
    device_entry,
    device_subentry_data,
    drain,
    entity_id,
    forget_received,
    runtime_of,
    set_soc,
    settle,
    shown,
    state_of,
)

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _now(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOW)


async def call(
    hass: HomeAssistant, data: dict[str, object] | None = None, *, response: bool = True
):
    return await hass.services.async_call(
        DOMAIN,
        "submit_device_state",
        data or {},
        blocking=True,
        return_response=response,
    )


async def test_action_with_response(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    response = await call(hass)
    stored = sandbox.stored()
    assert len(stored) == 1
    assert response == {
        "id": stored[0].id,
        "device_id": DEFAULT_DEVICE_ID,
        "time_created": stored[0].time_created.replace(microsecond=0).isoformat(),
        "body": stored[0].body,
    }
    assert stored[0].body["time"] == "2026-11-28T12:00:00Z"
    assert stored[0].body["state_of_charge_percent"] == 55
    assert state_of(hass, "submission_status") == "ok"
    assert state_of(hass, "last_submission") == NOW.isoformat()


async def test_action_overrides(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    response = await call(
        hass,
        {
            "config_entry_id": init_integration.entry_id,
            "state_of_charge_percent": 90,
            "target_state_of_charge_percent": 100,
            "battery_power_kw": 4.2,
            "energy_flow_direction": "import",
            "energy_remaining_kwh": 9,
            "backup_reserve_percent": 10,
            "time": "2026-11-28T12:59:30+01:00",
        },
    )
    body = sandbox.states()[0]
    assert response["body"] == body
    assert {k: v for k, v in body.items() if k != "record_reference_id"} == {
        "time": "2026-11-28T11:59:30Z",
        "state_of_charge_percent": 90,
        "target_state_of_charge_percent": 100,
        "battery_power_kw": 4.2,
        "energy_flow_direction": "IMPORT",
        "energy_remaining_kwh": 9,
        "backup_reserve_percent": 10,
    }


async def test_action_zero_power_has_no_direction(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    await call(hass, {"battery_power_kw": 0}, response=False)
    body = sandbox.states()[0]
    assert body["battery_power_kw"] == 0
    assert "energy_flow_direction" not in body


async def test_action_without_response(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    assert await call(hass, response=False) is None
    assert len(sandbox.states()) == 1


async def test_action_bypasses_the_minimum_gap(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    await call(hass, {"state_of_charge_percent": 50})
    await call(hass, {"state_of_charge_percent": 51})
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [50, 51]


@pytest.mark.parametrize(
    "data",
    [
        {"state_of_charge_percent": 101},
        {"state_of_charge_percent": "nan"},
        {"state_of_charge_percent": True},
        {"target_state_of_charge_percent": -5},
        {"battery_power_kw": -1},
        {"battery_power_kw": "inf"},
        {"energy_flow_direction": "SIDEWAYS"},
        {"energy_remaining_kwh": "lots"},
        {"time": "yesterday"},
        {"colour": "blue"},
    ],
)
async def test_action_rejects_bad_overrides(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    data: dict[str, object],
) -> None:
    with pytest.raises((vol.Invalid, ServiceValidationError)):
        await call(hass, data)
    assert sandbox.requests_to("state") == []
    assert len(runtime_of(init_integration).outbox) == 0


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"battery_power_kw": 2}, "direction_required"),
        ({"time": "2026-11-28T12:05:00+00:00"}, "time_in_future"),
    ],
)
async def test_action_cross_field_validation(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    data: dict[str, object],
    key: str,
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, data)
    assert err.value.translation_key == key
    assert sandbox.requests_to("state") == []


async def test_action_with_unavailable_source(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    hass.states.async_set(SOC, "unavailable")
    with pytest.raises(ServiceValidationError) as err:
        await call(hass)
    assert err.value.translation_key == "entity_unavailable"
    assert str(err.value).startswith(f"Entity {SOC} is unavailable or unknown")
    # An override fills the gap.
    await call(hass, {"state_of_charge_percent": 42})
    assert sandbox.states()[0]["state_of_charge_percent"] == 42


async def test_action_rejected_by_the_api(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    sandbox.fail_next(422, endpoint="state", code="unprocessable")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass)
    assert err.value.translation_key == "submission_rejected"
    assert "Fault injected by the sandbox" in str(err.value)
    assert len(runtime_of(init_integration).outbox) == 0
    await shown(hass, freezer)
    assert state_of(hass, "rejected_records") == "1"
    assert state_of(hass, "submission_status") == "invalid_data"


async def test_action_api_failure_keeps_the_record(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    random_source: RandomSource,
) -> None:
    sandbox.fail_next(500, endpoint="state")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass)
    assert err.value.translation_key == "submission_failed"
    assert "server error" in str(err.value)
    assert len(runtime_of(init_integration).outbox) == 1
    await shown(hass, freezer)
    assert state_of(hass, "last_error") == "server_error"
    # During the backoff the action retries now: its record, the current
    # state, first; then the older one, with its original time.
    response = await call(hass, {"state_of_charge_percent": 60})
    assert response["body"] == sandbox.states()[0]
    await drain(hass, freezer, init_integration)
    bodies = sandbox.states()
    assert [(b["state_of_charge_percent"], b["time"]) for b in bodies] == [
        (60, "2026-11-28T12:00:01Z"),
        (55, "2026-11-28T12:00:00Z"),
        # The drain ended with an older record: a fresh snapshot of the mapped
        # entities closes it.
        (55, "2026-11-28T12:00:01Z"),
    ]
    assert sandbox.duplicates == 0
    assert state_of(hass, "queued_records") == "0"
    assert state_of(hass, "submission_status") == "ok"


async def test_action_queues_while_paused(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    sandbox.fail_next(503, endpoint="state", retry_after="120")
    with pytest.raises(HomeAssistantError):
        await call(hass)
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    await advance(hass, freezer, 120)
    await shown(hass, freezer)
    assert state_of(hass, "last_error") == "device_not_found"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, {"state_of_charge_percent": 61})
    # Answered at once, with what the user has to do.
    assert err.value.translation_key == "submission_queued_device_not_found"
    assert "repair" in str(err.value).lower()
    await shown(hass, freezer)
    assert state_of(hass, "queued_records") == "2"


@pytest.mark.parametrize("retry_after", ["30", None])
async def test_action_answers_at_once_during_a_retry_after(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
    retry_after: str | None,
) -> None:
    """During a Retry-After the action says "queued" and when, without waiting.

    A 429 without one is Flatpeak's limit too: its backoff binds the same way.
    """
    monkeypatch.setattr(retry, "random", SimpleNamespace(uniform=lambda _a, b: b))
    sandbox.fail_next(429, endpoint="state", retry_after=retry_after)
    with pytest.raises(HomeAssistantError) as err:
        await call(hass)
    assert err.value.translation_key == "submission_failed"
    wait = 30 if retry_after else 10  # 10 s: the first backoff step's longest
    retry_at = dt_util.as_local(NOW + timedelta(seconds=wait)).strftime("%H:%M:%S")

    # Not a task of Home Assistant's: the wait below must not wait for it.
    task = hass.loop.create_task(call(hass, {"state_of_charge_percent": 61}))
    await hass.async_block_till_done()
    assert task.done(), "the action waits out the Retry-After"
    with pytest.raises(HomeAssistantError) as err:
        await task
    assert dt_util.utcnow() == NOW  # no simulated time passed
    assert err.value.translation_key == "submission_queued"
    assert retry_at in str(err.value)
    assert len(sandbox.requests_to("state")) == 1  # Flatpeak asked us to wait
    await advance(hass, freezer, wait)
    # The current state first; the backlog after its random delay (here the
    # longest, 30 s); then a fresh snapshot of the entities closes the drain.
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [61]
    await drain(hass, freezer, init_integration)
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [61, 55, 55]
    assert state_of(hass, "queued_records") == "0"


async def test_action_answers_at_once_during_the_pace_after_a_429(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    random_source: RandomSource,
) -> None:
    """The slower pace after a 429 is Flatpeak's limit too: the action waits not."""
    await sandbox.stop()
    for value in range(40, 44):
        with pytest.raises(HomeAssistantError):
            await call(hass, {"state_of_charge_percent": value})
        freezer.tick(timedelta(seconds=1))
    await sandbox.start()
    sandbox.fail_next(429, endpoint="state", retry_after="1")
    await advance(hass, freezer, 600)  # the backoff ends: 429, Retry-After 1 s
    await advance(hass, freezer, 1)  # one record, then the pace
    assert len(sandbox.states()) == 1
    task = hass.loop.create_task(call(hass, {"state_of_charge_percent": 50}))
    await hass.async_block_till_done()
    assert task.done(), "the action waits for the paced backlog"
    with pytest.raises(HomeAssistantError) as err:
        await task
    assert err.value.translation_key == "submission_queued"
    for _ in range(20):
        await advance(hass, freezer, 0.5)
    delivered = [b["state_of_charge_percent"] for b in sandbox.states()]
    # (55: the heartbeats at 12:05 and 12:10, during the outage's backoff.)
    assert sorted(v for v in delivered if v != 55) == [40, 41, 42, 43, 50]


async def test_manual_attempts_do_not_raise_the_backoff(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Presses during an outage do not push the recovery later."""
    monkeypatch.setattr(retry, "random", SimpleNamespace(uniform=lambda _a, b: b))
    sandbox.outage = True
    hass.states.async_set(SOC, "61", {"unit_of_measurement": "%"})
    attempts: list[datetime] = []
    for _ in range(300):
        before = len(sandbox.requests_to("state"))
        await advance(hass, freezer, 1)
        if len(sandbox.requests_to("state")) > before:
            attempts.append(dt_util.utcnow())
        if len(attempts) == 4:
            break
    # After four automatic failures the fifth attempt is due at:
    due = attempts[-1] + timedelta(seconds=retry.backoff_delay(4))
    await advance(hass, freezer, 5)
    for _ in range(2):
        before = len(sandbox.requests_to("state"))
        with pytest.raises(HomeAssistantError) as err:
            await hass.services.async_call(
                "button",
                "press",
                {ATTR_ENTITY_ID: entity_id(hass, "submit_now", "button")},
                blocking=True,
            )
        assert err.value.translation_key == "submission_failed"
        # Tried at once (no simulated time passes during a press).
        assert len(sandbox.requests_to("state")) > before
    sandbox.outage = False
    while not sandbox.states():
        assert dt_util.utcnow() <= due, "the presses moved the recovery later"
        await advance(hass, freezer, 1)
    assert dt_util.utcnow() == due


async def press(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        "button",
        "press",
        {ATTR_ENTITY_ID: entity_id(hass, "submit_now", "button")},
        blocking=True,
    )


@pytest.mark.usefixtures("at_start")
async def test_a_wall_clock_step_forward_does_not_end_a_retry_after(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    clocks: Clocks,
) -> None:
    """NTP steps the wall clock forward during a 429's Retry-After of 120 s.

    The retry times are on the monotonic clock: the button still answers
    "queued" (it used to find the wall-clock time of the Retry-After past and
    send at once, 2 s into Flatpeak's 120 s).
    """
    sandbox.fail_next(429, endpoint="state", retry_after="120")
    set_soc(hass, 61)
    await clocks.advance(1)
    assert [r.status for r in sandbox.requests_to("state")] == [429]
    await clocks.step(timedelta(hours=2))
    with pytest.raises(HomeAssistantError) as err:
        await press(hass)
    assert err.value.translation_key == "submission_queued"
    await clocks.advance(1)
    assert [r.status for r in sandbox.requests_to("state")] == [429]


@pytest.mark.usefixtures("at_start", "random_source")
async def test_a_wall_clock_step_back_and_a_failed_press_do_not_stall_delivery(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    clocks: Clocks,
) -> None:
    """The wall clock steps back a day during a backoff; the button is pressed.

    The press fails too; the retry stays on the monotonic clock (it used to
    keep the wall-clock retry time the press found: a day away after the
    step, and nothing was sent for a day with Flatpeak back).
    """
    await sandbox.stop()
    set_soc(hass, 61)
    await clocks.advance(1)  # cannot connect: the backoff's 5 s
    await clocks.step(-timedelta(days=1))
    with pytest.raises(HomeAssistantError):
        await press(hass)
    await sandbox.start()
    for _ in range(60):  # ten minutes, the longest backoff
        await clocks.advance(10)
    assert [b["state_of_charge_percent"] for b in sandbox.states()][:1] == [61]


async def test_action_supersedes_a_change_waiting_out_the_gap(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    hass.states.async_set(SOC, "56", {"unit_of_measurement": "%"})
    await advance(hass, freezer, 1)
    hass.states.async_set(SOC, "57", {"unit_of_measurement": "%"})
    await advance(hass, freezer, 5)  # waits out the 30 s gap
    await call(hass)
    await advance(hass, freezer, 60)
    bodies = sandbox.states()
    # No older-stamped duplicate follows the action's snapshot.
    assert [b["state_of_charge_percent"] for b in bodies] == [56, 57]
    assert bodies[1]["time"] == "2026-11-28T12:00:06Z"


async def test_action_time_older_than_the_outbox_keeps_records(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, {"time": "2026-11-27T11:59:00+00:00"})
    assert err.value.translation_key == "time_too_old"
    assert "24" in str(err.value)
    assert sandbox.requests_to("state") == []
    # Inside the bound it is accepted.
    await call(hass, {"time": "2026-11-27T12:01:00+00:00"})
    assert sandbox.states()[0]["time"] == "2026-11-27T12:01:00Z"


async def test_action_needs_an_entry(hass: HomeAssistant) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    with pytest.raises(ServiceValidationError) as err:
        await call(hass)
    assert err.value.translation_key == "no_config_entry"


async def test_action_entry_not_loaded(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    await hass.config_entries.async_unload(init_integration.entry_id)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass)
    assert err.value.translation_key == "config_entry_not_loaded"
    with pytest.raises(ServiceValidationError):
        await call(hass, {"config_entry_id": init_integration.entry_id})
    with pytest.raises(ServiceValidationError):
        await call(hass, {"config_entry_id": "not-an-entry"})


@pytest.fixture
async def two_accounts(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, init_integration: MockConfigEntry
) -> MockConfigEntry:
    """Add a second device to the account (a second account entry holds none)."""
    sandbox.add_device(SECOND, manufacturer="Acme Storage", model="Home 13.5")
    hass.config_entries.async_add_subentry(
        init_integration,
        ConfigSubentry(
            **device_subentry_data(
                SECOND,
                {**MAPPING, **BEHAVIOUR},
                subentry_id="01JDEVICESUBENTRY0000000002",
                title="Acme Storage Home 13.5",
            )
        ),
    )
    await settle(hass)
    forget_received(sandbox)
    return init_integration


async def test_action_several_devices_need_one(
    hass: HomeAssistant,
    two_accounts: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await call(hass)
    assert err.value.translation_key == "device_required"
    # Translated, naming the field as the form shows it.
    assert "“Flatpeak device”" in str(err.value)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, {"config_entry_id": two_accounts.entry_id})
    assert err.value.translation_key == "device_required"
    assert sandbox.requests_to("state") == []
    # A user's mistake: the integration logs nothing (Home Assistant's REST API
    # answers 400 without a log line; its websocket logs any error of an action).
    assert [r for r in caplog.records if r.name.startswith("custom_components")] == []


@pytest.mark.parametrize("by", ["ha_device", "flatpeak_id"])
async def test_action_for_one_device(
    hass: HomeAssistant,
    two_accounts: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    by: str,
) -> None:
    device = (
        device_entry(hass, two_accounts, SECOND).id if by == "ha_device" else SECOND
    )
    response = await call(hass, {"device": device, "state_of_charge_percent": 42})
    assert response["device_id"] == SECOND
    assert sandbox.states(SECOND)[-1]["state_of_charge_percent"] == 42
    assert sandbox.states(DEFAULT_DEVICE_ID) == []
    # With the account too.
    await call(
        hass,
        {
            "config_entry_id": two_accounts.entry_id,
            "device": DEFAULT_DEVICE_ID,
            "state_of_charge_percent": 43,
        },
    )
    assert sandbox.states(DEFAULT_DEVICE_ID)[-1]["state_of_charge_percent"] == 43


async def test_action_device_not_of_the_account(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    make_sandbox: Any,
    two_accounts: MockConfigEntry,
) -> None:
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, {"device": "dev_nowhere"})
    assert err.value.translation_key == "device_unknown"
    assert "dev_nowhere" in str(err.value)
    other = await make_sandbox(account_id="acc_other")
    account = MockConfigEntry(
        domain=DOMAIN,
        version=2,
        unique_id="acc_other",
        data={**account_data(other), "account_id": "acc_other"},
    )
    account.add_to_hass(hass)
    assert await hass.config_entries.async_setup(account.entry_id)  # no device yet
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, {"config_entry_id": account.entry_id, "device": SECOND})
    assert err.value.translation_key == "device_unknown"
    assert sandbox.requests_to("state") == []


async def test_action_for_a_disabled_device(
    hass: HomeAssistant, two_accounts: MockConfigEntry
) -> None:
    dr.async_get(hass).async_update_device(
        device_entry(hass, two_accounts, SECOND).id,
        disabled_by=dr.DeviceEntryDisabler.USER,
    )
    assert await hass.config_entries.async_reload(two_accounts.entry_id)
    await settle(hass)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass, {"device": SECOND})
    assert err.value.translation_key == "device_disabled"
    assert "Acme Storage Home 13.5" in str(err.value)


async def test_button(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    await hass.services.async_call(
        "button",
        "press",
        {ATTR_ENTITY_ID: entity_id(hass, "submit_now", "button")},
        blocking=True,
    )
    assert len(sandbox.states()) == 1
    sandbox.fail_next(503, endpoint="state", retry_after="120")
    with pytest.raises(HomeAssistantError):
        await hass.services.async_call(
            "button",
            "press",
            {ATTR_ENTITY_ID: entity_id(hass, "submit_now", "button")},
            blocking=True,
        )
    await shown(hass, freezer)
    assert state_of(hass, "api_connection", "binary_sensor") == "off"
    # During the Retry-After a press answers at once: queued, and when.
    task = hass.loop.create_task(
        hass.services.async_call(
            "button",
            "press",
            {ATTR_ENTITY_ID: entity_id(hass, "submit_now", "button")},
            blocking=True,
        )
    )
    await hass.async_block_till_done()
    assert task.done(), "the button waits out the Retry-After"
    with pytest.raises(HomeAssistantError) as err:
        await task
    assert err.value.translation_key == "submission_queued"
    retry_at = dt_util.as_local(NOW + timedelta(seconds=120))
    assert retry_at.strftime("%H:%M:%S") in str(err.value)


@pytest.mark.usefixtures("battery", "at_start")
@pytest.mark.parametrize(
    ("fault", "key"),
    [
        pytest.param("credentials", "submission_queued_auth_failed", id="auth"),
        pytest.param("device", "submission_queued_device_not_found", id="device"),
    ],
)
async def test_the_action_that_meets_a_pause_says_what_to_fix(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    fault: str,
    key: str,
) -> None:
    """The action whose own attempt is refused (credentials, device) answers
    like the next call does: queued until the user fixes it (re-authenticate,
    the repair). It said "could not be submitted … It stays queued and is
    retried", as for an outage, and the next call then said what to do."""
    if fault == "credentials":
        sandbox.set_reject_credentials(True)
    else:
        sandbox.remove_device(DEFAULT_DEVICE_ID)
    for _ in range(2):  # the attempt that meets it, then one while paused
        with pytest.raises(HomeAssistantError) as err:
            await hass.services.async_call(
                DOMAIN, "submit_device_state", {}, blocking=True
            )
        assert err.value.translation_key == key
