"""The flatpeak.submit_device_state action and the Submit now button."""

from datetime import UTC, datetime

from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import ATTR_ENTITY_ID
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol

from custom_components.flatpeak.const import DOMAIN
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from .conftest import SOC, RandomSource, advance, drain, entity_id, settle, state_of

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
    assert len(init_integration.runtime_data.outbox) == 0


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
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
) -> None:
    sandbox.fail_next(422, endpoint="state", code="unprocessable")
    with pytest.raises(HomeAssistantError) as err:
        await call(hass)
    assert err.value.translation_key == "submission_rejected"
    assert "Fault injected by the sandbox" in str(err.value)
    assert len(init_integration.runtime_data.outbox) == 0
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
    assert len(init_integration.runtime_data.outbox) == 1
    assert state_of(hass, "last_error") == "server_error"
    # During the backoff the action retries now: its record, the current
    # state, first; then the older one, with its original time.
    response = await call(hass, {"state_of_charge_percent": 60})
    assert response["body"] == sandbox.states()[0]
    await drain(hass, freezer, init_integration)
    bodies = sandbox.states()
    assert [(b["state_of_charge_percent"], b["time"]) for b in bodies] == [
        (60, "2026-11-28T12:00:00Z"),
        (55, "2026-11-28T12:00:00Z"),
    ]
    # The drain ended with the mapped entities' state: the snapshot that would
    # close it is that very record (same time, same values), not sent twice.
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
    assert state_of(hass, "last_error") == "device_not_found"
    with pytest.raises(HomeAssistantError) as err:
        await call(hass, {"state_of_charge_percent": 61})
    assert err.value.translation_key == "submission_queued"
    assert state_of(hass, "queued_records") == "2"


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


async def test_action_several_entries_need_an_id(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    MockConfigEntry(domain=DOMAIN, unique_id="dev_2", data={}).add_to_hass(hass)
    with pytest.raises(ServiceValidationError) as err:
        await call(hass)
    assert err.value.translation_key == "config_entry_required"


async def test_button(
    hass: HomeAssistant, init_integration: MockConfigEntry, sandbox: FlatpeakSandbox
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
    await settle(hass)
    assert state_of(hass, "api_connection", "binary_sensor") == "off"
