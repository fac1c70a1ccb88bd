"""The repair issues a device raises, created and deleted in one place.

An issue is about one device subentry: its ID carries the subentry's ID (a
subentry migrated from a 0.1/0.2 entry kept that entry's ID, so its issues
carried over), its data says which account entry and subentry it is about,
and its title names the device. The fix flows live in ``repairs.py``.
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN
from .device import DeviceContext

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


@callback
def async_delete_issues(hass: HomeAssistant, storage_id: str) -> None:
    """Clear every issue of a device (when it is removed)."""
    async_delete_device_issue(hass, storage_id)
    async_delete_mapping_issue(hass, storage_id)
    ir.async_delete_issue(hass, DOMAIN, outbox_issue_id(storage_id))
