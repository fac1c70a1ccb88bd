"""Diagnostics, as a snapshot: redacted secrets, mapping, status, outbox.

Regenerate after a deliberate change: pytest tests/test_diagnostics.py --snapshot-update
"""

from datetime import UTC, datetime

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from syrupy.assertion import SnapshotAssertion
from syrupy.filters import paths

from custom_components.flatpeak.const import DOMAIN
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from .conftest import SUBENTRY_ID, device_entry, settle

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
# Volatile: the sandbox's port and the id it gives a record.
VOLATILE = paths(
    "account.api_url",
    "account.data.api_url",
    f"devices.{SUBENTRY_ID}.status.last_record.id",
    "device.status.last_record.id",
)


@pytest.fixture(autouse=True)
def _now(freezer: FrozenDateTimeFactory) -> None:
    freezer.move_to(NOW)


async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    snapshot: SnapshotAssertion,
) -> None:
    await hass.services.async_call(DOMAIN, "submit_device_state", {}, blocking=True)
    # The next one waits in the outbox while Flatpeak is down.
    sandbox.outage = True
    with pytest.raises(HomeAssistantError, match="stays queued"):
        await hass.services.async_call(
            DOMAIN,
            "submit_device_state",
            {"state_of_charge_percent": 60},
            blocking=True,
        )
    await settle(hass)
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, init_integration
    )
    assert diagnostics == snapshot(exclude=VOLATILE)
    assert diagnostics["account"]["api_url"] == sandbox.url
    device = diagnostics["devices"][SUBENTRY_ID]
    assert device["status"]["last_record"]["id"].startswith("dsr_")
    # The device page's download: the account and that device, the same.
    one = await get_diagnostics_for_device(
        hass,
        hass_client,
        init_integration,
        device_entry(hass, init_integration, DEFAULT_DEVICE_ID),
    )
    assert one == {"account": diagnostics["account"], "device": device}
