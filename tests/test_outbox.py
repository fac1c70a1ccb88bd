"""The outbox: bounds by age and count, persistence, unreadable records."""

from datetime import UTC, datetime, timedelta
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.api import DeviceState
from custom_components.flatpeak.outbox import Outbox
from flatpeak_sandbox import FlatpeakSandbox

from .conftest import SOC, advance, drain, state_of

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def state(minutes_ago: float, soc: float = 50) -> DeviceState:
    return DeviceState(
        time=NOW - timedelta(minutes=minutes_ago),
        state_of_charge_percent=soc,
        target_state_of_charge_percent=80,
        record_reference_id=f"ref-{minutes_ago}-{soc}",
    )


@pytest.fixture(autouse=True)
def _now(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOW)


async def test_count_bound_drops_the_oldest_and_logs_once(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(hass, "entry", max_age=timedelta(hours=24), max_records=3)
    for soc in range(6):
        outbox.append(state(10 - soc, soc))
    assert [s.state_of_charge_percent for s in outbox] == [3, 4, 5]
    assert outbox.dropped == 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    # A delivery ends the episode: the next drop is logged again.
    first = outbox.peek()
    assert first is not None
    outbox.delivered(first)
    outbox.append(state(1, 6))
    outbox.append(state(0, 7))
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 2


async def test_age_bound(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    outbox = Outbox(hass, "entry", max_age=timedelta(hours=1), max_records=100)
    outbox.append(state(90))
    outbox.append(state(30))
    assert len(outbox) == 1
    assert outbox.dropped == 1
    freezer.tick(timedelta(minutes=31))
    assert outbox.prune() == 1
    assert len(outbox) == 0


async def test_reject_and_remove_out_of_order(hass: HomeAssistant) -> None:
    outbox = Outbox(hass, "entry", max_age=timedelta(hours=1), max_records=100)
    first, second = state(2), state(1)
    outbox.append(first)
    outbox.append(second)
    outbox.reject(second)
    assert list(outbox) == [first]
    assert outbox.rejected == 1
    outbox.reject(second)  # already gone: not counted twice
    assert outbox.rejected == 1


async def test_persisted_and_restored(
    hass: HomeAssistant, hass_storage: dict[str, Any]
) -> None:
    outbox = Outbox(hass, "entry", max_age=timedelta(hours=24), max_records=100)
    outbox.append(state(2, 20))
    outbox.append(state(1, 21))
    await outbox.async_save()
    stored = hass_storage["flatpeak.entry.outbox"]["data"]
    stored["records"].insert(1, {"time": "garbage"})
    again = Outbox(hass, "entry", max_age=timedelta(hours=24), max_records=100)
    await again.async_load()
    assert [s.to_json() for s in again] == [s.to_json() for s in outbox]


async def test_bounds_are_options(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    battery: None,
    freezer: FrozenDateTimeFactory,
) -> None:
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={**config_entry.options, "outbox_max_records": 100}
    )
    await hass.config_entries.async_setup(config_entry.entry_id)
    await sandbox.stop()
    for value in range(110):
        hass.states.async_set(SOC, str(value % 100), {"unit_of_measurement": "%"})
        await advance(hass, freezer, 31)
    assert state_of(hass, "queued_records") == "100"
    assert int(state_of(hass, "dropped_records")) > 0
    await sandbox.start()
    await advance(hass, freezer, 600)
    dropped = int(state_of(hass, "dropped_records"))
    await drain(hass, freezer, config_entry)
    assert state_of(hass, "dropped_records") == str(dropped)
    assert len(sandbox.states()) >= 100
