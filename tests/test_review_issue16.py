"""Defects the independent review of issue 16 (the account and its devices) proved.

Each test goes through Home Assistant's doors (the flow managers, the
registries, services, time) against the sandbox.
"""

import json
from pathlib import Path
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import device_registry as dr
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
    get_diagnostics_for_device,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.flatpeak.const import (
    CONF_ACCOUNT_ID,
    CONF_API_URL,
    CONF_SECRET_KEY,
    DOMAIN,
    SUBENTRY_DEVICE,
)
from custom_components.flatpeak.schemas import SECTION_ADVANCED
from flatpeak_sandbox import DEFAULT_DEVICE_ID, FlatpeakSandbox

from .conftest import (
    BEHAVIOUR,
    MAPPING,
    SUBENTRY_ID,
    account_data,
    advance,
    device_entry,
    device_subentry_data,
    set_soc,
    settle,
)

pytestmark = pytest.mark.usefixtures("battery", "at_start")

SECOND = "dev_demo2"
SECOND_SUBENTRY = "01JDEVICESUBENTRY0000000002"


def two_devices(sandbox: FlatpeakSandbox) -> MockConfigEntry:
    """Return an account entry with the default device and a second one."""
    sandbox.add_device(SECOND, manufacturer="Acme Storage", model="Home 13.5")
    return MockConfigEntry(
        domain=DOMAIN,
        version=2,
        title=f"Flatpeak {sandbox.account_id}",
        unique_id=sandbox.account_id,
        data=account_data(sandbox),
        subentries_data=[
            device_subentry_data(
                DEFAULT_DEVICE_ID, {**MAPPING, **BEHAVIOUR}, subentry_id=SUBENTRY_ID
            ),
            device_subentry_data(
                SECOND,
                {**MAPPING, **BEHAVIOUR},
                subentry_id=SECOND_SUBENTRY,
                title="Acme Storage Home 13.5",
            ),
        ],
    )


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await settle(hass)


def journal(hass: HomeAssistant, storage_id: str) -> Path:
    return Path(hass.config.path(".storage", f"{DOMAIN}.{storage_id}.outbox.jsonl"))


# --- "Add device" when the account's credentials or URL are refused ------------


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        pytest.param("credentials", "invalid_auth", id="credentials-refused"),
        pytest.param("url", "wrong_api_url", id="not-flatpeaks-api"),
    ],
)
async def test_add_device_says_why_when_the_account_is_refused(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    init_integration: MockConfigEntry,
    fault: str,
    error: str,
) -> None:
    """The device form has one field: an error about the account's secret key
    or API URL must show at the form's top ("base"), not on a field the form
    does not have (the UI shows nothing then: the form just comes back)."""
    sandbox.add_device(SECOND)
    result = await hass.config_entries.subentries.async_init(
        (init_integration.entry_id, SUBENTRY_DEVICE), context={"source": SOURCE_USER}
    )
    if fault == "credentials":
        sandbox.set_reject_credentials(True)
    else:
        # A URL without a token endpoint (e.g. a proxy's page answering 404).
        sandbox.fail_next(404, endpoint="token")
    # A token may be cached: the lookup is refused, then the token request.
    sandbox.fail_next(401, endpoint="device")
    result = await hass.config_entries.subentries.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: SECOND}
    )
    assert result["type"] is FlowResultType.FORM
    fields = {str(key) for key in result["data_schema"].schema}
    assert set(result["errors"]) <= {*fields, "base"}, result["errors"]
    assert result["errors"] == {"base": error}


# --- a removed device's files ------------------------------------------------------


async def test_deleting_a_disabled_device_deletes_its_files(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
    hass_storage: dict[str, Any],
) -> None:
    """A device disabled in Home Assistant does not run, but it has files (the
    records it queued before, its last submission). Deleting it must delete
    them, as for a device that runs: nothing else ever will."""
    entry = two_devices(sandbox)
    await setup(hass, entry)
    # Records of both devices queued during an outage, on disk.
    await sandbox.stop()
    set_soc(hass, 61)
    await advance(hass, freezer, 31)
    await advance(hass, freezer, 6)  # past the outbox's flush delay
    path = journal(hass, SECOND_SUBENTRY)
    assert await hass.async_add_executor_job(path.exists)
    assert f"{DOMAIN}.{SECOND_SUBENTRY}.last" in hass_storage
    # The user disables the second device (its device page), which stops it.
    registry = dr.async_get(hass)
    registry.async_update_device(
        device_entry(hass, entry, SECOND).id, disabled_by=dr.DeviceEntryDisabler.USER
    )
    assert await hass.config_entries.async_reload(entry.entry_id)
    await settle(hass)
    assert list(entry.runtime_data.devices) == [SUBENTRY_ID]
    assert await hass.async_add_executor_job(path.exists)  # its records wait
    # Then deletes it (its ⋮ on the account's page).
    assert hass.config_entries.async_remove_subentry(entry, SECOND_SUBENTRY)
    await settle(hass)
    assert entry.state is ConfigEntryState.LOADED
    assert not await hass.async_add_executor_job(path.exists)
    assert f"{DOMAIN}.{SECOND_SUBENTRY}.last" not in hass_storage
    assert await hass.async_add_executor_job(journal(hass, SUBENTRY_ID).exists)


# --- disabling a device ------------------------------------------------------------


async def test_disabling_a_device_stops_its_submissions(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """README: "Disable a device (its device page → ⋮ → Disable) to stop its
    submissions". Home Assistant removes a disabled device's entities but does
    not reload the entry (it reloads only when entities are enabled again), so
    the integration must stop the device itself."""
    entry = two_devices(sandbox)
    await setup(hass, entry)
    before = len(sandbox.states(SECOND))
    registry = dr.async_get(hass)
    registry.async_update_device(
        device_entry(hass, entry, SECOND).id, disabled_by=dr.DeviceEntryDisabler.USER
    )
    await advance(hass, freezer, 1)
    set_soc(hass, 62)
    await advance(hass, freezer, 31)
    await advance(hass, freezer, 300)  # a heartbeat too
    assert len(sandbox.states(SECOND)) == before, "the disabled device submitted"
    assert list(entry.runtime_data.devices) == [SUBENTRY_ID]
    # The other device runs on.
    assert sandbox.states(DEFAULT_DEVICE_ID)[-1]["state_of_charge_percent"] == 62
    # Enabled again, it runs again (Home Assistant reloads the entry after 30 s)
    # and sends what it has.
    registry.async_update_device(device_entry(hass, entry, SECOND).id, disabled_by=None)
    await advance(hass, freezer, 31)
    assert set(entry.runtime_data.devices) == {SUBENTRY_ID, SECOND_SUBENTRY}
    assert len(sandbox.states(SECOND)) > before


# --- a device's own check proves the account's credentials ----------------------


async def test_a_device_check_that_gets_a_token_resumes_the_whole_account(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, freezer: FrozenDateTimeFactory
) -> None:
    """The first device is paused (Flatpeak did not know it) and checks itself
    again after 1 min. Meanwhile the credentials are refused (the second device
    pauses, one re-authentication is asked for) and restored. The first
    device's check gets a token: the credentials work. It withdraws the
    re-authentication request; the second device must then resume too, not
    stay paused with "authentication failed" until the account's hourly check,
    with nothing left asking the user for anything."""
    entry = two_devices(sandbox)
    sandbox.remove_device(DEFAULT_DEVICE_ID)
    await setup(hass, entry)
    first = entry.runtime_data.devices[SUBENTRY_ID]
    second = entry.runtime_data.devices[SECOND_SUBENTRY]
    assert first.sender.paused_for == "device_not_found"
    sandbox.set_reject_credentials(True)
    set_soc(hass, 63)
    await advance(hass, freezer, 31)
    assert second.sender.paused_for == "auth_failed"
    assert [
        f["context"]["source"] for f in hass.config_entries.flow.async_progress()
    ] == ["reauth"]
    # The key works again, and the device is back at Flatpeak.
    sandbox.set_reject_credentials(False)
    sandbox.add_device(DEFAULT_DEVICE_ID)
    await advance(hass, freezer, 30)  # the first device's check (1 min after)
    assert first.sender.paused_for is None
    assert hass.config_entries.flow.async_progress() == []  # the request withdrawn
    await advance(hass, freezer, 31)
    assert second.sender.paused_for is None, "still paused, and nothing asks the user"
    assert 63 in [s["state_of_charge_percent"] for s in sandbox.states(SECOND)]


# --- what the action answers when its own attempt meets a pause ----------------


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


# --- diagnostics: what Flatpeak says of a device, redacted ----------------------


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


# --- two accounts of one account ID (production and a staging URL) --------------


async def add_account(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, device_id: str
) -> MockConfigEntry:
    """Walk the first run (credentials, device, mapping) against ``sandbox``."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_ACCOUNT_ID: sandbox.account_id,
            CONF_SECRET_KEY: sandbox.secret_key,
            SECTION_ADVANCED: {CONF_API_URL: sandbox.url},
        },
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_DEVICE_ID: device_id}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], MAPPING)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    entry: MockConfigEntry = result["result"]
    return entry


@pytest.mark.xfail(
    strict=True,
    reason="Both account entries are titled 'Flatpeak <account ID>': the "
    "account's page, Add device's choice of account, the re-authentication "
    "card and the 'already set up, in …' error cannot tell them apart. "
    "Suggested: add the API URL's host to the title when it is not "
    "Flatpeak's (and update it on reconfigure); touches the flow snapshot "
    "and the e2e titles, so left to the lead.",
)
async def test_two_accounts_of_one_account_id_have_different_titles(
    hass: HomeAssistant, sandbox: FlatpeakSandbox, make_sandbox: Any
) -> None:
    """The README supports the same account ID at another API URL (a staging
    endpoint) as another account. The issue's point was that a user must tell
    things apart: two entries of the same title cannot be."""
    staging = await make_sandbox(account_id=sandbox.account_id, device_ids=(SECOND,))
    production = await add_account(hass, sandbox, DEFAULT_DEVICE_ID)
    other = await add_account(hass, staging, SECOND)
    assert production.unique_id != other.unique_id
    assert production.title != other.title
