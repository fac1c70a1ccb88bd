"""System information: whether the API answers, devices, queued records, last submission."""

from datetime import datetime

from aiohttp import ClientError
from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    get_system_health_info,
)
from pytest_homeassistant_custom_component.test_util.aiohttp import AiohttpClientMocker

from custom_components.flatpeak.api import DEFAULT_BASE_URL
from custom_components.flatpeak.const import DOMAIN
from flatpeak_sandbox import FlatpeakSandbox

from .conftest import account_with, advance, runtime_of, set_soc

pytestmark = pytest.mark.usefixtures("at_start")


async def _info(hass: HomeAssistant) -> dict[str, object]:
    """Return the values as the System information page gets them."""
    assert await async_setup_component(hass, "system_health", {})
    # Home Assistant 2026.3 registers the platforms of loaded integrations in tasks.
    await hass.async_block_till_done()
    info = await get_system_health_info(hass, DOMAIN)
    return {
        key: await value if hasattr(value, "__await__") else value
        for key, value in info.items()
    }


async def test_one_account(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The account's API URL is checked (the sandbox answers); its delivery shows."""
    set_soc(hass, 61)
    await advance(hass, freezer, 1)
    delivered_at = dt_util.utcnow()
    await sandbox.stop()
    set_soc(hass, 62)
    await advance(hass, freezer, 31)
    info = await _info(hass)
    assert info["api_endpoint_reachable"] != "ok"
    assert info["api_endpoint_reachable"]["type"] == "failed"  # type: ignore[index]
    assert info["devices"] == 1
    assert info["queued_records"] == len(runtime_of(init_integration).outbox) >= 1
    last = info["last_submission"]
    assert isinstance(last, datetime)
    assert abs((last - delivered_at).total_seconds()) <= 1
    await sandbox.start()
    assert (await _info(hass))["api_endpoint_reachable"] == "ok"


async def test_several_accounts_listed_by_title(
    hass: HomeAssistant,
    battery: None,
    make_sandbox: object,
) -> None:
    """Each value lists the accounts; both API URLs are checked."""
    first = await make_sandbox()  # type: ignore[operator]
    second = await make_sandbox(account_id="acc_second00000000000000000")  # type: ignore[operator]
    entries = [account_with(first, "dev_demo1", "dev_demo2"), account_with(second)]
    for entry in entries:
        entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entries[1], title="Second")
    await hass.config_entries.async_setup(entries[0].entry_id)  # both load
    await hass.async_block_till_done(wait_background_tasks=True)
    info = await _info(hass)
    assert info["devices"] == "Flatpeak: 2, Second: 0"
    assert info["queued_records"] == "Flatpeak: 0, Second: 0"
    assert str(info["last_submission"]).startswith("Flatpeak: 20")
    assert str(info["last_submission"]).endswith("Second: -")
    assert info["api_endpoint_reachable"] == "ok"
    await second.stop()
    failed = (await _info(hass))["api_endpoint_reachable"]
    assert failed == {"type": "failed", "error": f"{second.url}: unreachable"}


async def test_no_account(
    hass: HomeAssistant, aioclient_mock: AiohttpClientMocker
) -> None:
    """With no account, Flatpeak's own API is checked."""
    aioclient_mock.get(DEFAULT_BASE_URL, exc=ClientError())
    assert await async_setup_component(hass, DOMAIN, {})
    info = await _info(hass)
    assert info == {
        "api_endpoint_reachable": {"type": "failed", "error": "unreachable"},
        "devices": 0,
        "queued_records": 0,
        "last_submission": "-",
    }
    assert aioclient_mock.call_count == 1
