"""The repair issues a device raises, created and deleted in one place.

An issue is about one device subentry: its ID carries the subentry's ID (a
subentry migrated from a 0.1/0.2 entry kept that entry's ID, so its issues
carried over), its data says which account entry and subentry it is about,
and its title names the device. The fix flows live in ``repairs.py``.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from ..const import DOMAIN, TELEMETRY_ISSUE_RECENT
from .device import DeviceContext

if TYPE_CHECKING:
    from ..api import VppParticipation
    from .runtime import FlatpeakConfigEntry

DEVICE_ISSUE_PREFIX = "device_not_found_"


def device_issue_id(storage_id: str) -> str:
    """Return the id of the "device not found" repair issue of a device."""
    return f"{DEVICE_ISSUE_PREFIX}{storage_id}"


def mapping_issue_id(storage_id: str) -> str:
    """Return the id of the "mapping broken" repair issue of a device."""
    return f"mapping_broken_{storage_id}"


def _data(context: DeviceContext) -> dict[str, str | int | float | None]:
    return {"entry_id": context.entry.entry_id, "subentry_id": context.subentry_id}


@callback
def async_create_device_issue(hass: HomeAssistant, context: DeviceContext) -> None:
    """Raise the issue of a device that Flatpeak no longer knows.

    Its fix (``repairs.py``) checks the device again and explains what else
    can be done.
    """
    ir.async_create_issue(
        hass,
        DOMAIN,
        device_issue_id(context.storage_id),
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key="device_not_found",
        translation_placeholders={
            "device_id": context.device_id,
            "title": context.title,
        },
        data=_data(context),
    )


@callback
def async_create_mapping_issue(
    hass: HomeAssistant, context: DeviceContext, entities: str
) -> None:
    """Raise the issue of a mapping whose entities went missing or changed unit."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        mapping_issue_id(context.storage_id),
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="mapping_broken",
        translation_placeholders={"title": context.title, "entities": entities},
        data=_data(context),
    )


def outbox_issue_id(storage_id: str) -> str:
    """Return the id of the "outbox unreadable" repair issue of a device."""
    return f"outbox_unreadable_{storage_id}"


@callback
def async_update_outbox_issue(
    hass: HomeAssistant, context: DeviceContext, unreadable: dict[str, str]
) -> None:
    """Raise the issue of a device's outbox files kept after a read error, or clear it.

    Not fixable from Home Assistant: the files are tried again at every start.
    """
    if not unreadable:
        ir.async_delete_issue(hass, DOMAIN, outbox_issue_id(context.storage_id))
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        outbox_issue_id(context.storage_id),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="outbox_unreadable",
        translation_placeholders={
            "title": context.title,
            "path": ", ".join(unreadable),
            "error": ", ".join(sorted(set(unreadable.values()))),
        },
    )


@callback
def async_delete_device_issue(hass: HomeAssistant, storage_id: str) -> None:
    """Clear the "device not found" issue of a device."""
    ir.async_delete_issue(hass, DOMAIN, device_issue_id(storage_id))


@callback
def async_delete_mapping_issue(hass: HomeAssistant, storage_id: str) -> None:
    """Clear the "mapping broken" issue of a device."""
    ir.async_delete_issue(hass, DOMAIN, mapping_issue_id(storage_id))


def telemetry_issue_id(storage_id: str) -> str:
    """Return the id of the "telemetry inactive at Flatpeak" issue of a device."""
    return f"telemetry_inactive_{storage_id}"


@callback
def async_update_telemetry_issue(
    hass: HomeAssistant,
    context: DeviceContext,
    participation: VppParticipation | None,
    last_success: datetime | None,
) -> None:
    """Raise the issue of a VPP that says telemetry is inactive while we deliver.

    "While we deliver": Flatpeak accepted a record of the device within
    ``TELEMETRY_ISSUE_RECENT``. Cleared once the programme sees the telemetry
    again, or when the device has no participation.
    """
    issue_id = telemetry_issue_id(context.storage_id)
    delivering = last_success is not None and (
        dt_util.utcnow() - last_success <= TELEMETRY_ISSUE_RECENT
    )
    if participation is None or participation.telemetry_active is not False:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    if not delivering:
        return  # not ours to tell: the submission status says why nothing arrives
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="telemetry_inactive",
        translation_placeholders={
            "title": context.title,
            "device_id": context.device_id,
            "programme": participation.programme_name or participation.id,
            "last_submission": dt_util.as_local(last_success).strftime("%Y-%m-%d %H:%M")
            if last_success
            else "",
        },
        data=_data(context),
    )


def tariff_issue_id(entry_id: str, location_id: str, direction: str) -> str:
    """Return the id of the "no tariff connected" issue of a location and direction."""
    return f"no_tariff_connected_{entry_id}_{location_id}_{direction.lower()}"


@callback
def async_update_tariff_issue(
    hass: HomeAssistant,
    entry: FlatpeakConfigEntry,
    location_id: str,
    direction: str,
    unavailable: str | None,
) -> None:
    """Raise the issue of a location without a tariff for ``direction``, or clear it.

    Only Flatpeak's ``no_tariff_connected`` raises it: a connection still
    pending or missing price data is Flatpeak's to resolve (the price sensor
    says which).
    """
    issue_id = tariff_issue_id(entry.entry_id, location_id, direction)
    if unavailable != "no_tariff_connected":
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=f"no_tariff_connected_{direction.lower()}",
        translation_placeholders={"location_id": location_id, "account": entry.title},
        data={"entry_id": entry.entry_id, "location_id": location_id},
    )


@callback
def async_delete_read_issues(
    hass: HomeAssistant, entry_id: str, keep: set[str] | None = None
) -> None:
    """Clear the read issues of an account (reads off, or the account removed).

    ``keep``: the locations still read; only the tariff issues of the others
    go (a location no device of the account is at any more).
    """
    registry = ir.async_get(hass)
    for (domain, issue_id), issue in list(registry.issues.items()):
        if domain != DOMAIN or not issue.data or issue.data.get("entry_id") != entry_id:
            continue
        if keep is not None:
            if (
                issue_id.startswith("no_tariff_connected_")
                and issue.data.get("location_id") not in keep
            ):
                ir.async_delete_issue(hass, DOMAIN, issue_id)
        elif issue_id.startswith(("no_tariff_connected_", "telemetry_inactive_")):
            ir.async_delete_issue(hass, DOMAIN, issue_id)


@callback
def async_delete_issues(hass: HomeAssistant, storage_id: str) -> None:
    """Clear every issue of a device (when it is removed)."""
    async_delete_device_issue(hass, storage_id)
    async_delete_mapping_issue(hass, storage_id)
    ir.async_delete_issue(hass, DOMAIN, outbox_issue_id(storage_id))
    ir.async_delete_issue(hass, DOMAIN, telemetry_issue_id(storage_id))
