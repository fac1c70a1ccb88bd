"""Set up the devices of an account entry; delete what a removed device leaves.

Each device subentry gets its own engine (status, outbox, sender, scheduler),
sharing the account's client. The devices are looked up at Flatpeak once per
start: a failure that is not about one device (an outage, refused
credentials, a wrong URL) is read once and holds for every device.
"""

from __future__ import annotations

import asyncio

from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import device_registry as dr

from ..api import Device, FlatpeakClient, FlatpeakTimeoutError
from ..const import DOMAIN, SETUP_TOKEN_TIMEOUT, SUBENTRY_DEVICE, ErrorCode
from ..delivery.errors import Action, Verdict, classify, describe
from ..delivery.outbox import Outbox, async_remove_outbox
from ..delivery.scheduler import Scheduler
from ..delivery.sender import Sender
from ..delivery.status import StatusPublisher
from ..delivery.status_store import async_remove_status
from ..mapping.battery_mapping import BatteryMapping
from .account import FlatpeakAccount
from .device import DeviceContext
from .issues import (
    async_delete_device_issue,
    async_delete_issues,
    async_update_outbox_issue,
)
from .runtime import FlatpeakRuntimeData, Settings

type LookUp = tuple[Device | None, Verdict | None]


def device_subentries(account: FlatpeakAccount) -> list[ConfigSubentry]:
    """Return the account's device subentries whose device is not disabled.

    A device disabled in Home Assistant (device page, or a disabled 0.2 entry
    merged into an enabled account) submits nothing; its records wait.
    """
    registry = dr.async_get(account.hass)
    disabled = {
        identifier
        for device in dr.async_entries_for_config_entry(
            registry, account.entry.entry_id
        )
        if device.disabled
        for identifier in device.identifiers
    }
    return [
        subentry
        for subentry in account.entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_DEVICE
        and (DOMAIN, subentry.data[CONF_DEVICE_ID]) not in disabled
    ]


@callback
def async_stop_disabled_devices(account: FlatpeakAccount) -> CALLBACK_TYPE:
    """Reload the account when a device of it that runs is disabled.

    Home Assistant removes a disabled device's entities, but reloads the entry
    only when entities are enabled again: without this, the device's engine
    would go on submitting until the next start. Return the unsubscribe.
    """

    @callback
    def _disabled_by_changed(data: dr.EventDeviceRegistryUpdatedData) -> bool:
        return data["action"] == "update" and "disabled_by" in data["changes"]

    @callback
    def _reload_if_stopped(_event: Event[dr.EventDeviceRegistryUpdatedData]) -> None:
        wanted = {subentry.subentry_id for subentry in device_subentries(account)}
        if set(account.devices) - wanted:
            account.hass.config_entries.async_schedule_reload(account.entry.entry_id)

    return account.hass.bus.async_listen(
        dr.EVENT_DEVICE_REGISTRY_UPDATED,
        _reload_if_stopped,
        event_filter=_disabled_by_changed,
    )


async def async_get_setup_token(client: FlatpeakClient) -> Verdict | None:
    """Get the account's token at setup, waiting at most ``SETUP_TOKEN_TIMEOUT``.

    Return None when a token was issued, else what failed (refused
    credentials, an outage, a timeout, a wrong URL), read as in delivery.
    """
    try:
        async with asyncio.timeout(SETUP_TOKEN_TIMEOUT):
            await client.authenticate()
    except TimeoutError:
        return classify(FlatpeakTimeoutError("No token within the setup's wait"))
    except Exception as err:  # noqa: BLE001 - any failure is read like in delivery
        return classify(err)
    return None


async def async_look_up_devices(
    client: FlatpeakClient, device_ids: list[str], shared: Verdict | None = None
) -> dict[str, LookUp]:
    """Look every device up; a failure not about one device holds for all.

    ``shared`` is such a failure known before (the setup's token request).
    """
    found: dict[str, LookUp] = {}
    for device_id in device_ids:
        if shared is not None:
            found[device_id] = (None, shared)
            continue
        try:
            found[device_id] = (await client.get_device(device_id), None)
        except Exception as err:  # noqa: BLE001 - any failure is read like in delivery
            verdict = classify(err)
            found[device_id] = (None, verdict)
            if verdict.code is not ErrorCode.DEVICE_NOT_FOUND:
                shared = verdict
    return found


async def async_setup_device(
    hass: HomeAssistant,
    account: FlatpeakAccount,
    subentry: ConfigSubentry,
    device: Device | None,
) -> FlatpeakRuntimeData:
    """Build one device's engine; nothing is sent or scheduled yet."""
    context = DeviceContext(
        hass,
        account.entry,
        subentry,
        on_credentials_refused=account.credentials_refused,
        on_credentials_work=account.credentials_work,
    )
    settings = Settings.from_options(context.options)
    status = StatusPublisher(hass, context, device)
    outbox = Outbox(
        hass,
        context.storage_id,
        max_age=settings.outbox_max_age,
        max_records=settings.outbox_max_records,
        log=context.log,
    )
    await status.async_restore()
    await outbox.async_load()
    status.restore_counts(outbox)
    async_update_outbox_issue(hass, context, outbox.unreadable)
    sender = Sender(hass, context, account.client, outbox, status)
    mapping = BatteryMapping.from_options(context.options)
    return FlatpeakRuntimeData(
        context=context,
        client=account.client,
        device=device,
        mapping=mapping,
        settings=settings,
        status=status,
        sender=sender,
        scheduler=Scheduler(hass, context, mapping, settings, sender),
    )


def apply_look_up(runtime: FlatpeakRuntimeData, failure: Verdict | None) -> None:
    """Show what the lookup found: connected, paused, or an outage to retry."""
    context = runtime.context
    if failure is None:
        async_delete_device_issue(context.hass, context.storage_id)
        runtime.status.publish(connected=True)
    elif failure.action is Action.PAUSE:
        # Refused credentials paused every device of the account at the first.
        if runtime.sender.paused_for is not failure.code:
            runtime.sender.pause(failure)
    else:
        # The sender says it at info level, once, when its first request fails.
        context.log.debug(
            "Looking the device up failed (%s); records are queued until it is back",
            describe(failure),
        )


async def async_remove_device_storage(hass: HomeAssistant, storage_id: str) -> None:
    """Delete a removed device's outbox, last submission and repair issues."""
    async_delete_issues(hass, storage_id)
    await async_remove_outbox(hass, storage_id)
    await async_remove_status(hass, storage_id)
