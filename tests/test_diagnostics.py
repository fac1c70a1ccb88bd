"""Diagnostics, as a snapshot: redacted secrets, mapping, status, outbox.

Regenerate after a deliberate change: pytest tests/test_diagnostics.py --snapshot-update
"""

from datetime import UTC, datetime
import json

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

from .account.test_setup_and_unload import setup, two_devices
from .conftest import SUBENTRY_ID, device_entry, settle

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)
# Volatile: the sandbox's port and the id it gives a record.
PRICES = "account.locations.loc_sandbox0000000000000001.prices"
VOLATILE = paths(
    "account.api_url",
    "account.data.api_url",
    f"devices.{SUBENTRY_ID}.status.last_record.id",
    "device.status.last_record.id",
    # The ids the sandbox gives its answers.
    f"{PRICES}.IMPORT.last_answer.series.id",
    f"{PRICES}.EXPORT.last_answer.series.id",
    f"devices.{SUBENTRY_ID}.reads.state_at_flatpeak.last_answer.id",
    "device.reads.state_at_flatpeak.last_answer.id",
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
    # The last answer of each read (the volatile ids aside).
    reads = device["reads"]
    assert reads["state_at_flatpeak"]["last_answer"]["id"].startswith("dsr_")
    assert reads["state_at_flatpeak"]["last_answer"]["account_id"] == "**REDACTED**"
    location = diagnostics["account"]["locations"]["loc_sandbox0000000000000001"]
    assert location["location"]["last_answer"]["customer_id"] == "**REDACTED**"
    for direction in ("IMPORT", "EXPORT"):
        series = location["prices"][direction]["last_answer"]["series"]
        assert series["id"].startswith("prs_")
    # The device page's download: the account and that device, the same.
    one = await get_diagnostics_for_device(
        hass,
        hass_client,
        init_integration,
        device_entry(hass, init_integration, DEFAULT_DEVICE_ID),
    )
    assert one == {"account": diagnostics["account"], "device": device}


@pytest.mark.usefixtures("battery", "at_start")
async def test_diagnostics_redact_where_the_home_is(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    hass_client: ClientSessionGenerator,
) -> None:
    """The diagnostics hold the device object as Flatpeak sent it. Flatpeak's
    device objects can carry the home's position (``geo_location`` in the
    yotta version) and its account; users attach the download to public bug
    reports: neither may be in it."""
    sandbox.add_device(
        DEFAULT_DEVICE_ID,
        account_id=sandbox.account_id,
        geo_location={"lat": 51.50722, "lng": -0.1275},
        timezone="Europe/London",
    )
    entry = two_devices(sandbox)
    await setup(hass, entry)
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)
    text = json.dumps(diagnostics)
    assert "51.50722" not in text
    assert "-0.1275" not in text
    assert sandbox.account_id not in text
    assert sandbox.secret_key not in text
    device = await get_diagnostics_for_device(
        hass, hass_client, entry, device_entry(hass, entry, DEFAULT_DEVICE_ID)
    )
    assert "51.50722" not in json.dumps(device)
