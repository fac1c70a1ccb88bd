"""The repair issues an entry raises, created and deleted in one place.

The fix flows live in ``repairs.py``; this module only says which issues exist.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .const import DOMAIN

DEVICE_ISSUE_PREFIX = "device_not_found_"


def device_issue_id(entry_id: str) -> str:
    """Return the id of the "device not found" repair issue of an entry."""
    return f"{DEVICE_ISSUE_PREFIX}{entry_id}"


def mapping_issue_id(entry_id: str) -> str:
    """Return the id of the "mapping broken" repair issue of an entry."""
    return f"mapping_broken_{entry_id}"


@callback
def async_create_device_issue(
    hass: HomeAssistant, entry: ConfigEntry, device_id: str
) -> None:
    """Raise the issue of a device that Flatpeak no longer knows.

    Its fix (``repairs.py``) checks the device again and explains reconfigure.
    """
    ir.async_create_issue(
        hass,
        DOMAIN,
        device_issue_id(entry.entry_id),
        is_fixable=True,
        severity=ir.IssueSeverity.ERROR,
        translation_key="device_not_found",
        translation_placeholders={"device_id": device_id, "title": entry.title},
        data={"entry_id": entry.entry_id},
    )


@callback
def async_create_mapping_issue(
    hass: HomeAssistant, entry: ConfigEntry, entities: str
) -> None:
    """Raise the issue of a mapping whose entities went missing or changed unit."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        mapping_issue_id(entry.entry_id),
        is_fixable=True,
        severity=ir.IssueSeverity.WARNING,
        translation_key="mapping_broken",
        translation_placeholders={"title": entry.title, "entities": entities},
        data={"entry_id": entry.entry_id},
    )


def outbox_issue_id(entry_id: str) -> str:
    """Return the id of the "saved records unreadable" repair issue of an entry."""
    return f"outbox_unreadable_{entry_id}"


@callback
def async_update_outbox_issue(
    hass: HomeAssistant, entry: ConfigEntry, unreadable: dict[str, str]
) -> None:
    """Raise the issue of outbox files kept after a read error, or clear it.

    Not fixable from Home Assistant: the files are tried again at every start.
    """
    if not unreadable:
        ir.async_delete_issue(hass, DOMAIN, outbox_issue_id(entry.entry_id))
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        outbox_issue_id(entry.entry_id),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="outbox_unreadable",
        translation_placeholders={
            "title": entry.title,
            "path": ", ".join(unreadable),
            "error": ", ".join(sorted(set(unreadable.values()))),
        },
    )


@callback
def async_delete_device_issue(hass: HomeAssistant, entry_id: str) -> None:
    """Clear the "device not found" issue of an entry."""
    ir.async_delete_issue(hass, DOMAIN, device_issue_id(entry_id))


@callback
def async_delete_mapping_issue(hass: HomeAssistant, entry_id: str) -> None:
    """Clear the "mapping broken" issue of an entry."""
    ir.async_delete_issue(hass, DOMAIN, mapping_issue_id(entry_id))


@callback
def async_delete_issues(hass: HomeAssistant, entry_id: str) -> None:
    """Clear every issue of an entry (when it is removed)."""
    async_delete_device_issue(hass, entry_id)
    async_delete_mapping_issue(hass, entry_id)
    ir.async_delete_issue(hass, DOMAIN, outbox_issue_id(entry_id))
