"""A device's config entry and subentry, on every supported Home Assistant.

Home Assistant 2026.3 lets a device belong to several config entries
(``config_entries_subentries``; moved with ``add_``/``remove_config_entry_id``).
Newer releases give a device exactly one (``config_entry_id`` and
``config_subentry_id``; moved with ``new_config_entry_id``) and report the old
names as deprecated. This module is the one place that knows both.
"""

from __future__ import annotations

import inspect
from typing import Any

from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.typing import UNDEFINED, UndefinedType


def belongs_to(device: Any, entry_id: str, subentry_id: str) -> bool:
    """Return whether ``device`` belongs to the subentry ``subentry_id`` of an entry.

    ``device`` is a device registry entry (a child device's too, on newer
    Home Assistant releases).
    """
    if hasattr(device, "config_subentry_id"):
        return bool(
            device.config_entry_id == entry_id
            and device.config_subentry_id == subentry_id
        )
    owners: dict[str, set[str | None]] = device.config_entries_subentries
    return subentry_id in owners.get(entry_id, set())


def move_device(
    registry: dr.DeviceRegistry,
    device: dr.DeviceEntry,
    *,
    from_entry_id: str,
    to_entry_id: str,
    to_subentry_id: str,
    disabled_by: dr.DeviceEntryDisabler | UndefinedType = UNDEFINED,
) -> None:
    """Move ``device`` from an entry to another entry's subentry (or the same's)."""
    parameters = inspect.signature(registry.async_update_device).parameters
    if "new_config_entry_id" in parameters:
        registry.async_update_device(
            device.id,
            new_config_entry_id=to_entry_id,
            new_config_subentry_id=to_subentry_id,
            disabled_by=disabled_by,
        )
        return
    # Home Assistant 2026.3: two steps, since the device may hold several entries.
    registry.async_update_device(
        device.id,
        add_config_entry_id=to_entry_id,
        add_config_subentry_id=to_subentry_id,
    )
    registry.async_update_device(
        device.id,
        remove_config_entry_id=from_entry_id,
        remove_config_subentry_id=None,
        disabled_by=disabled_by,
    )
