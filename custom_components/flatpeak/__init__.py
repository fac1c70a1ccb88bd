"""Flatpeak for Home Assistant: push home-battery telemetry to Flatpeak."""

from __future__ import annotations

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType

from .api import (
    DEFAULT_BASE_URL,
    Device,
    FlatpeakAuthenticationError,
    FlatpeakClient,
    FlatpeakError,
    FlatpeakNotFoundError,
)
from .api.client import DEFAULT_TIMEOUT
from .const import (
    CONF_ACCOUNT_ID,
    CONF_API_URL,
    CONF_DEVICE_ID,
    CONF_SECRET_KEY,
    DOMAIN,
    LOGGER,
)
from .coordinator import FlatpeakConfigEntry, FlatpeakCoordinator
from .issues import async_delete_device_issue, async_delete_issues
from .outbox import async_remove_outbox
from .services import async_setup_services

PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Register the integration's action (it works with no entry loaded)."""
    async_setup_services(hass)
    return True


def create_client(
    hass: HomeAssistant, data: dict[str, str], *, timeout: float = DEFAULT_TIMEOUT
) -> FlatpeakClient:
    """Create a Flatpeak client on Home Assistant's shared HTTP session."""
    return FlatpeakClient(
        async_get_clientsession(hass),
        data[CONF_ACCOUNT_ID],
        data[CONF_SECRET_KEY],
        base_url=data.get(CONF_API_URL, DEFAULT_BASE_URL),
        timeout=timeout,
    )


async def async_setup_entry(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> bool:
    """Set up Flatpeak from a config entry.

    Refused credentials fail the setup (and start reauth). An unreachable API
    does not: snapshots are queued in the outbox until Flatpeak is back.
    """
    try:
        client = create_client(hass, dict(entry.data))
    except ValueError as err:
        # The flows refuse such a URL; this guards entries edited by hand.
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="insecure_api_url",
            translation_placeholders={"url": str(entry.data.get(CONF_API_URL))},
        ) from err
    device_id = entry.data[CONF_DEVICE_ID]
    device: Device | None = None
    missing: FlatpeakNotFoundError | None = None
    try:
        device = await client.get_device(device_id)
    except FlatpeakAuthenticationError as err:
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="auth_failed"
        ) from err
    except FlatpeakNotFoundError as err:
        missing = err
    except FlatpeakError as err:
        LOGGER.warning(
            "Cannot reach the Flatpeak API (%s); records are queued until it is back",
            err.message,
        )
    else:
        async_delete_device_issue(hass, entry.entry_id)

    coordinator = FlatpeakCoordinator(hass, entry, client, device)
    if device is not None:
        coordinator.data.connected = True
    if missing is not None:
        coordinator.device_not_found(missing)
    await coordinator.async_start()
    entry.runtime_data = coordinator
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> bool:
    """Unload a config entry; the coordinator saves the outbox."""
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        await entry.runtime_data.async_shutdown()
    return unloaded


async def async_remove_entry(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> None:
    """Delete the saved outbox and the repair issues of a removed entry."""
    async_delete_issues(hass, entry.entry_id)
    await async_remove_outbox(hass, entry.entry_id)
