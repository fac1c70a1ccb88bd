"""From 0.1/0.2 (an entry per device) to 0.3 (an account entry, a subentry per device).

A version-1 entry held the credentials, the API URL and the device ID in its
data, the mapping and the submission settings in its options. Its
migration, step by step:

1. The entries of one account (the same account ID at the same API URL) are
   grouped; the first enabled one becomes the account entry (the parent).
2. Each entry of the group becomes a device subentry of the parent whose
   subentry ID is the old entry's ID, so that everything keyed by it (the
   outbox journal, the last submission, repair issues) carries over as it is.
   Its data: the device ID and the old options, flat (the same keys).
3. Its Home Assistant device and entities move to the parent and the subentry;
   entity IDs and unique IDs stay. A disabled entry merged into an enabled
   account becomes a device disabled by the user (no submissions, see
   ``account/device_setup.py``), so that merging does not switch it on.
4. The other entries of the group are removed; their files stay, since
   ``async_remove_entry`` keeps what a subentry still uses.
5. The parent gets the account's data, no options, the account's title and
   unique ID, and version 2.

The same account ID at two API URLs (a staging endpoint and production) is
two accounts: two entries, told apart by their unique ID (``account_unique_id``).

All of it runs in ``async_setup``, before any entry of the domain is set up:
Home Assistant sets a domain's entries up concurrently, each holding its own
setup lock, so an entry migrating in ``async_migrate_entry`` could not remove
another one (its lock is held by that entry's own setup).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import SOURCE_IGNORE, ConfigSubentry
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.helpers.typing import UNDEFINED
from yarl import URL

from ..api import DEFAULT_BASE_URL
from ..const import (
    CONF_ACCOUNT_ID,
    CONF_API_URL,
    CONF_SECRET_KEY,
    DOMAIN,
    LOGGER,
    SUBENTRY_DEVICE,
)
from .registry_compat import move_device

if TYPE_CHECKING:
    from .runtime import FlatpeakConfigEntry

ACCOUNT_VERSION = 2


def api_url_of(data: Mapping[str, Any]) -> str:
    """Return an entry's API URL, as the flows store it."""
    return str(data.get(CONF_API_URL) or DEFAULT_BASE_URL).rstrip("/")


def account_unique_id(data: Mapping[str, Any]) -> str:
    """Return the unique ID of an account entry: the account ID.

    At another API URL than Flatpeak's (a staging endpoint, the sandbox) the
    URL is part of it: the same account ID there is another account.
    """
    account_id = str(data[CONF_ACCOUNT_ID])
    url = api_url_of(data)
    return account_id if url == DEFAULT_BASE_URL else f"{account_id}@{url}"


def account_title(
    data: Mapping[str, Any], others: Iterable[Mapping[str, Any]] = ()
) -> str:
    """Return the title of an account entry.

    ``others`` are the data of the other account entries: when one of them has
    the same account ID (at another API URL), the URL's host tells them apart.
    """
    title = f"Flatpeak {data[CONF_ACCOUNT_ID]}"
    if any(other[CONF_ACCOUNT_ID] == data[CONF_ACCOUNT_ID] for other in others):
        title += f" ({URL(api_url_of(data)).raw_authority})"
    return title


def account_data(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return an account entry's data: its credentials and API URL."""
    return {
        CONF_ACCOUNT_ID: data[CONF_ACCOUNT_ID],
        CONF_SECRET_KEY: data[CONF_SECRET_KEY],
        CONF_API_URL: api_url_of(data),
    }


async def async_migrate_entries(hass: HomeAssistant) -> None:
    """Migrate every version-1 entry, merging those of one account."""
    groups: dict[str, list[FlatpeakConfigEntry]] = {}
    old = [
        entry
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.version == 1 and entry.source != SOURCE_IGNORE
    ]
    # Enabled entries first (a stable sort keeps their order otherwise).
    for entry in sorted(old, key=lambda entry: entry.disabled_by is not None):
        groups.setdefault(account_unique_id(entry.data), []).append(entry)
    for members in groups.values():
        await async_migrate_group(hass, members)


async def async_migrate_group(
    hass: HomeAssistant, members: list[FlatpeakConfigEntry]
) -> None:
    """Make the first entry of ``members`` the account entry of them all."""
    parent = members[0]
    for member in members:
        subentry = ConfigSubentry(
            data=MappingProxyType(
                {CONF_DEVICE_ID: member.data[CONF_DEVICE_ID], **member.options}
            ),
            subentry_id=member.entry_id,
            subentry_type=SUBENTRY_DEVICE,
            title=member.title,
            unique_id=member.data[CONF_DEVICE_ID],
        )
        # Already there: a migration cut short (Home Assistant stopped) runs again.
        if subentry.subentry_id not in parent.subentries:
            hass.config_entries.async_add_subentry(parent, subentry)
        disable = member.disabled_by is not None and parent.disabled_by is None
        _move_registry_entries(hass, member, parent, subentry, disable=disable)
        if member is not parent:
            await hass.config_entries.async_remove(member.entry_id)
        LOGGER.info(
            "Migrated the Flatpeak entry %s (device %s) to a device of account %s",
            member.title,
            subentry.unique_id,
            parent.data[CONF_ACCOUNT_ID],
        )
    # Another account entry of the same account ID (at another API URL).
    others = [
        entry.data
        for entry in hass.config_entries.async_entries(DOMAIN)
        if entry.entry_id != parent.entry_id and entry.source != SOURCE_IGNORE
    ]
    hass.config_entries.async_update_entry(
        parent,
        data=account_data(parent.data),
        options={},
        title=account_title(parent.data, others),
        unique_id=account_unique_id(parent.data),
        version=ACCOUNT_VERSION,
    )


def _move_registry_entries(
    hass: HomeAssistant,
    member: FlatpeakConfigEntry,
    parent: FlatpeakConfigEntry,
    subentry: ConfigSubentry,
    *,
    disable: bool,
) -> None:
    """Move the member's device and entities to the parent and its subentry."""
    device_registry = dr.async_get(hass)
    entity_registry = er.async_get(hass)
    device = next(
        (
            device
            for device in dr.async_entries_for_config_entry(
                device_registry, member.entry_id
            )
            if (DOMAIN, subentry.unique_id) in device.identifiers
        ),
        None,
    )
    for entity in er.async_entries_for_config_entry(entity_registry, member.entry_id):
        disabled_by = entity.disabled_by
        if disabled_by is er.RegistryEntryDisabler.CONFIG_ENTRY and disable:
            # The device is disabled below; the registries do not move this flag.
            disabled_by = (
                er.RegistryEntryDisabler.DEVICE
                if device is not None
                else er.RegistryEntryDisabler.USER
            )
        entity_registry.async_update_entity(
            entity.entity_id,
            config_entry_id=parent.entry_id,
            config_subentry_id=subentry.subentry_id,
            disabled_by=disabled_by,
        )
    if device is None:
        return
    move_device(
        device_registry,
        device,
        from_entry_id=member.entry_id,
        to_entry_id=parent.entry_id,
        to_subentry_id=subentry.subentry_id,
        disabled_by=dr.DeviceEntryDisabler.USER if disable else UNDEFINED,
    )
