"""Flatpeak for Home Assistant: push home-battery telemetry to Flatpeak."""

from __future__ import annotations

from homeassistant.const import CONF_DEVICE_ID, EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant
from homeassistant.exceptions import ConfigEntryError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.helpers.typing import ConfigType
from homeassistant.util import dt as dt_util

from .api import DEFAULT_BASE_URL, Device, FlatpeakClient
from .api.client import DEFAULT_TIMEOUT
from .const import CONF_ACCOUNT_ID, CONF_API_URL, CONF_SECRET_KEY, DOMAIN, LOGGER
from .errors import Action, Verdict, classify, describe
from .issues import (
    async_delete_device_issue,
    async_delete_issues,
    async_update_outbox_issue,
)
from .mapping import BatteryMapping
from .outbox import Outbox, async_remove_outbox
from .runtime import FlatpeakConfigEntry, FlatpeakRuntimeData, Settings
from .scheduler import Scheduler
from .sender import Sender
from .services import async_setup_services
from .status import StatusCoordinator
from .status_store import async_remove_status

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
        utcnow=dt_util.utcnow,
    )


async def _async_look_up_device(
    client: FlatpeakClient, device_id: str
) -> tuple[Device | None, Verdict | None]:
    """Return the device, or why it could not be looked up."""
    try:
        return await client.get_device(device_id), None
    except Exception as err:  # noqa: BLE001 - any failure is read like in delivery
        return None, classify(err)


async def async_setup_entry(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> bool:
    """Set up Flatpeak from a config entry.

    The entry loads whatever Flatpeak answers, so that states are recorded and
    queued: an outage or a garbled answer is retried; refused credentials start
    a re-authentication, an unknown device raises a repair issue, a wrong API
    URL shows in the status; each of these pauses delivery until it is fixed.
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
    device, failure = await _async_look_up_device(client, device_id)

    settings = Settings.from_options(entry.options)
    status = StatusCoordinator(hass, entry, device_id, device)
    outbox = Outbox(
        hass,
        entry.entry_id,
        max_age=settings.outbox_max_age,
        max_records=settings.outbox_max_records,
    )
    await status.async_restore()
    await outbox.async_load()
    status.restore_counts(outbox)
    async_update_outbox_issue(hass, entry, outbox.unreadable)
    sender = Sender(hass, entry, client, outbox, status)
    mapping = BatteryMapping.from_options(entry.options)
    runtime = FlatpeakRuntimeData(
        client=client,
        device=device,
        mapping=mapping,
        settings=settings,
        status=status,
        sender=sender,
        scheduler=Scheduler(hass, entry, mapping, settings, sender),
    )
    entry.runtime_data = runtime

    async def _async_on_stop(_event: Event) -> None:
        await runtime.async_shutdown()

    entry.async_on_unload(runtime.async_shutdown)
    entry.async_on_unload(
        hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, _async_on_stop)
    )

    if failure is None:
        async_delete_device_issue(hass, entry.entry_id)
        status.publish(connected=True)
    elif failure.action is Action.PAUSE:
        sender.pause(failure)
    else:
        LOGGER.warning(
            "Cannot reach the Flatpeak API (%s); records are queued until it is back",
            describe(failure),
        )
    runtime.scheduler.start()
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> bool:
    """Unload a config entry; its shutdown (``async_on_unload``) flushes the outbox."""
    return await hass.config_entries.async_unload_platforms(entry, PLATFORMS)


async def async_remove_entry(hass: HomeAssistant, entry: FlatpeakConfigEntry) -> None:
    """Delete the saved outbox, the last submission and the entry's repair issues."""
    async_delete_issues(hass, entry.entry_id)
    await async_remove_outbox(hass, entry.entry_id)
    await async_remove_status(hass, entry.entry_id)
