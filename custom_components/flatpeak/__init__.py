"""Flatpeak for Home Assistant: push home-battery telemetry to Flatpeak."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.const import CONF_DEVICE_ID, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryAuthFailed, ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from .account.account import FlatpeakAccount
from .account.device_setup import (
    apply_look_up,
    async_get_setup_token,
    async_look_up_devices,
    async_remove_device_storage,
    async_setup_device,
    async_stop_disabled_devices,
    device_subentries,
)
from .account.issues import async_delete_read_issues
from .account.migration import (
    ACCOUNT_VERSION,
    async_migrate_entries,
    async_migrate_group,
)
from .account.runtime import FlatpeakConfigEntry
from .api import DEFAULT_BASE_URL, FlatpeakClient
from .api.client import DEFAULT_TIMEOUT
from .const import CONF_ACCOUNT_ID, CONF_API_URL, CONF_SECRET_KEY, DOMAIN, ErrorCode
from .reads.readback import AccountReads, async_remove_read_entities, reads_enabled
from .services import async_setup_services

PLATFORMS = [Platform.BINARY_SENSOR, Platform.BUTTON, Platform.EVENT, Platform.SENSOR]
CONFIG_SCHEMA = cv.config_entry_only_config_schema(DOMAIN)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Migrate 0.1/0.2 entries, then register the action (it works with no entry)."""
    await async_migrate_entries(hass)
    async_setup_services(hass)
    return True


async def async_migrate_entry(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> bool:
    """Migrate a version-1 entry that ``async_setup`` did not see, on its own."""
    if entry.version == 1:
        await async_migrate_group(hass, [entry])
    return entry.version == ACCOUNT_VERSION


def create_client(
    hass: HomeAssistant, data: Mapping[str, Any], *, timeout: float = DEFAULT_TIMEOUT
) -> FlatpeakClient:
    """Create a Flatpeak client on Home Assistant's shared HTTP session."""
    return FlatpeakClient(
        async_get_clientsession(hass),
        data[CONF_ACCOUNT_ID],
        data[CONF_SECRET_KEY],
        base_url=data.get(CONF_API_URL, DEFAULT_BASE_URL),
        timeout=timeout,
        utcnow=dt_util.utcnow,
    )


async def async_setup_entry(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> bool:
    """Set up a Flatpeak account and its devices.

    The account's token is asked for first: refused credentials fail the setup
    and Home Assistant starts the re-authentication (the queued records stay
    on disk). Any other answer loads the entry, so that states are recorded and
    queued: an outage or a garbled answer is retried; an unknown device raises
    a repair issue, a wrong API URL shows in the status; each of these pauses
    delivery until it is fixed.
    """
    try:
        client = create_client(hass, entry.data)
    except ValueError as err:
        # The flows refuse such a URL; this guards entries edited by hand.
        raise ConfigEntryError(
            translation_domain=DOMAIN,
            translation_key="insecure_api_url",
            translation_placeholders={"url": str(entry.data.get(CONF_API_URL))},
        ) from err
    account = FlatpeakAccount(
        hass=hass, entry=entry, client=client, subentry_ids=frozenset(entry.subentries)
    )
    if (token_failed := await async_get_setup_token(client)) is not None and (
        token_failed.code is ErrorCode.AUTH_FAILED
    ):
        # Nothing is lost: what the devices queued stays on disk until the
        # re-authentication sets the entry up again.
        raise ConfigEntryAuthFailed(
            translation_domain=DOMAIN, translation_key="setup_auth_failed"
        )
    subentries = device_subentries(account)
    found = await async_look_up_devices(
        client,
        [subentry.data[CONF_DEVICE_ID] for subentry in subentries],
        token_failed,
    )
    for subentry in subentries:
        device, _ = found[subentry.data[CONF_DEVICE_ID]]
        account.devices[subentry.subentry_id] = await async_setup_device(
            hass, account, subentry, device
        )
    entry.runtime_data = account

    async def _async_on_stop(_event: Event) -> None:
        await account.async_shutdown()

    entry.async_on_unload(account.async_shutdown)
    entry.async_on_unload(
        hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _async_on_stop)
    )
    entry.async_on_unload(entry.add_update_listener(_async_update_listener))
    entry.async_on_unload(async_stop_disabled_devices(account))
    for runtime in account.devices.values():
        apply_look_up(runtime, found[runtime.context.device_id][1])
    _set_up_reads(hass, account, all(device for device, _ in found.values()))
    for runtime in account.devices.values():
        runtime.scheduler.start()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    if (reads := account.reads) is not None:
        # In the background: delivery never waits for, nor fails on, a read.
        entry.async_create_background_task(
            hass, reads.async_start(), "flatpeak first reads"
        )
    return True


def _set_up_reads(
    hass: HomeAssistant, account: FlatpeakAccount, locations_known: bool
) -> None:
    """Create the account's reads if its option is on; clear what is not read.

    Off: every read entity, location device and read issue goes. On: the
    price entities of a location no device is at any more go, when every
    device's location is known (a lookup that failed may still find it).
    """
    entry = account.entry
    if not reads_enabled(entry):
        async_remove_read_entities(hass, entry, None)
        return
    reads = account.reads = AccountReads(hass, account)
    for runtime in account.devices.values():
        reads.add_device(runtime)
    if locations_known:
        async_remove_read_entities(hass, entry, set(reads.locations))


async def _async_update_listener(
    hass: HomeAssistant, entry: FlatpeakConfigEntry
) -> None:
    """Reload after any change (credentials, a device added, changed or removed).

    A removed device's files and issues are deleted once the reload has
    unloaded it (its outbox is flushed at unload); a device that did not run
    (disabled in Home Assistant) has files too.
    """
    removed = [
        subentry_id
        for subentry_id in entry.runtime_data.subentry_ids
        if subentry_id not in entry.subentries
    ]
    await hass.config_entries.async_reload(entry.entry_id)
    for storage_id in removed:
        await async_remove_device_storage(hass, storage_id)


async def async_unload_entry(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> bool:
    """Unload an account; its shutdown (``async_on_unload``) flushes the outboxes."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> None:
    """Delete the files and issues of the removed account's devices.

    What another entry's subentry still uses is kept: a 0.2 entry merged into
    another account entry by the migration left its files to that subentry.
    """
    storage_ids = list(entry.subentries) if entry.version > 1 else [entry.entry_id]
    in_use = {
        subentry_id
        for other in hass.config_entries.async_entries(DOMAIN)
        for subentry_id in other.subentries
    }
    for storage_id in storage_ids:
        if storage_id not in in_use:
            await async_remove_device_storage(hass, storage_id)
    async_delete_read_issues(hass, entry.entry_id)
