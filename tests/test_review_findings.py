"""Defects the independent review of the delivery engine proved, each kept fixed."""

import asyncio
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.flatpeak.api import DeviceState, FlatpeakServerError
from custom_components.flatpeak.const import CONF_MIN_INTERVAL
from custom_components.flatpeak.sender import SenderState
from flatpeak_sandbox import FlatpeakSandbox

from .conftest import (
    advance,
    device_options,
    entity_id,
    runtime_of,
    set_device_options,
    set_soc,
)

pytestmark = pytest.mark.usefixtures("at_start")


async def test_rejected_backlog_updates_entities_at_most_once_a_second(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Draining a backlog that Flatpeak rejects is throttled like one it accepts:
    not one recorder row per record."""
    await sandbox.stop()
    for value in range(30):
        set_soc(hass, value)
        await advance(hass, freezer, 31)
    assert len(runtime_of(init_integration).outbox) >= 30
    watched = [entity_id(hass, key) for key in ("queued_records", "rejected_records")]
    writes: dict[str, int] = dict.fromkeys(watched, 0)

    @callback
    def count(event: Event[EventStateChangedData]) -> None:
        writes[event.data["entity_id"]] += 1

    async_track_state_change_event(hass, watched, count)
    await sandbox.start()
    sandbox.fail_next(422, count=100, endpoint="state")
    # Every rejection comes back at once (no clock time passes between them).
    await advance(hass, freezer, 600)
    assert not runtime_of(init_integration).outbox
    # At most one write a second of real time (the drain takes a fraction of
    # one; the margin covers a loaded machine), not one per record (30).
    assert max(writes.values()) <= 10, writes


async def test_a_request_in_flight_at_stop_arms_no_timer(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Home Assistant stops while a request is in flight: when it fails, the
    stopped sender neither waits nor sends again."""
    runtime = runtime_of(init_integration)
    gate = asyncio.Event()

    async def answer_after_the_stop(_device_id: str, _state: DeviceState) -> Any:
        await gate.wait()
        raise FlatpeakServerError("down", status=503)

    with patch.object(runtime.client, "submit_device_state", answer_after_the_stop):
        set_soc(hass, 61)
        # Not ``advance``: it would wait for the delivery the gate holds.
        for _ in range(40):
            freezer.tick(timedelta(seconds=1))
            async_fire_time_changed(hass)
            await hass.async_block_till_done()
            if runtime.sender.state is SenderState.SENDING:
                break
        assert runtime.sender.state is SenderState.SENDING
        runtime.sender.stop()
        gate.set()
        await hass.async_block_till_done()
    assert runtime.sender.state is SenderState.PAUSED
    assert runtime.sender._timer is None
    assert len(runtime.outbox) == 1  # kept for the next start


async def test_reload_while_a_change_coalesces_queues_it_once(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The change queued at unload is the state the reloaded entry would send
    at its start: it is sent once, not twice."""
    set_soc(hass, 66)
    await hass.async_block_till_done()  # coalescing: not queued yet
    # The account reloads.
    set_device_options(
        hass,
        init_integration,
        {**device_options(init_integration), CONF_MIN_INTERVAL: 5},
    )
    await advance(hass, freezer, 10)
    puts = [
        r
        for r in sandbox.requests_to("state")
        if r.body["state_of_charge_percent"] == 66
    ]
    assert len(puts) == 1
    assert sandbox.duplicates == 0
