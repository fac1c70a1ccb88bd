"""Home Assistant's own logbook and recorder, running, read over the websocket API."""

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder import Recorder
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)
from pytest_homeassistant_custom_component.typing import WebSocketGenerator

from flatpeak_sandbox import FlatpeakSandbox

from .conftest import START, entity_id, runtime_of
from .entity_writes import online_hour

# The logbook depends on the frontend, installed with the newest Home Assistant
# (requirements_test.txt) only; on the floor the same rule is checked by
# tests/test_entities.py (tests/entity_writes.py applies the logbook's filter).
pytest.importorskip("hass_frontend", reason="the logbook needs the frontend package")


@pytest.fixture(autouse=True)
def mock_recorder_before_hass(async_test_recorder: None) -> None:
    """Set the recorder up before Home Assistant (core's pattern)."""


@pytest.mark.usefixtures("at_start")
async def test_the_logbook_shows_problems_not_routine_submissions(
    recorder_mock: Recorder,
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    hass_ws_client: WebSocketGenerator,
) -> None:
    """Home Assistant's own logbook, over its websocket API: ten minutes of
    routine submissions write nothing; an outage writes what changed."""
    assert await async_setup_component(hass, "logbook", {})
    await online_hour(hass, freezer, duration=600)
    await sandbox.stop()
    await online_hour(hass, freezer, duration=60)
    await async_wait_recording_done(hass)
    ours = [
        entry.entity_id
        for entry in er.async_entries_for_config_entry(
            er.async_get(hass), init_integration.entry_id
        )
    ]
    client = await hass_ws_client()
    await client.send_json_auto_id(
        {
            "type": "logbook/get_events",
            "start_time": START.isoformat(),
            "end_time": dt_util.utcnow().isoformat(),
            "entity_ids": ours,
        }
    )
    response = await client.receive_json()
    assert response["success"]
    logged = [(entry["entity_id"], entry["state"]) for entry in response["result"]]
    # When the problem starts, Last submission shows exactly when Flatpeak
    # last accepted a record.
    last_success = runtime_of(init_integration).status.current.last_success
    assert last_success is not None
    assert sorted(logged) == sorted(
        [
            (entity_id(hass, "api_connection", "binary_sensor"), "off"),
            (entity_id(hass, "last_error"), "cannot_connect"),
            (entity_id(hass, "last_submission"), last_success.isoformat()),
            (entity_id(hass, "submission_status"), "error"),
        ]
    )
