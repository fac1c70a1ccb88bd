"""Diagnostics download: configuration, status and last results, redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .const import CONF_ACCOUNT_ID, CONF_SECRET_KEY
from .mapping import BatteryMapping
from .registry_compat import belongs_to
from .runtime import FlatpeakConfigEntry, FlatpeakRuntimeData

# Secrets; and where the home is, which Flatpeak's device objects may carry
# (``geo_location`` in its yotta version): the download goes to bug reports.
TO_REDACT = {
    CONF_ACCOUNT_ID,
    CONF_SECRET_KEY,
    "token",
    "bearer_token",
    "geo_location",
    "postal_address",
    "lat",
    "lng",
    "latitude",
    "longitude",
}


def mapped_entity_states(
    hass: HomeAssistant, mapping: BatteryMapping
) -> dict[str, dict[str, Any] | None]:
    """Return each mapped entity's current state and unit (None: it does not exist)."""
    states: dict[str, dict[str, Any] | None] = {}
    for entity_id in mapping.entity_ids:
        state = hass.states.get(entity_id)
        states[entity_id] = (
            None
            if state is None
            else {
                "state": state.state,
                "unit_of_measurement": state.attributes.get(ATTR_UNIT_OF_MEASUREMENT),
                "device_class": state.attributes.get(ATTR_DEVICE_CLASS),
                "last_updated": state.last_updated.isoformat(),
            }
        )
    return states


def _device_diagnostics(
    hass: HomeAssistant, runtime: FlatpeakRuntimeData
) -> dict[str, Any]:
    """Return one device's subentry, mapping, status and outbox (not redacted)."""
    current = runtime.status.current
    status = asdict(current)
    for key in ("last_success", "last_error_time"):
        if (moment := getattr(current, key)) is not None:
            status[key] = moment.isoformat()
    if (record := current.last_record) is not None:
        status["last_record"] = {
            **asdict(record),
            "time_created": record.time_created.isoformat(),
        }
    outbox = runtime.outbox
    subentry = runtime.context.subentry
    return {
        "subentry": {
            "subentry_id": subentry.subentry_id,
            "title": subentry.title,
            "data": dict(subentry.data),
        },
        "mapping": asdict(runtime.mapping),
        "mapped_entities": mapped_entity_states(hass, runtime.mapping),
        "device": dict(runtime.device.raw) if runtime.device else None,
        "sender": runtime.sender.state.value,
        "status": status,
        "outbox": {
            "queued": len(outbox),
            "dropped": outbox.dropped,
            "rejected": outbox.rejected,
            "oldest": oldest.to_json() if (oldest := outbox.oldest) else None,
        },
    }


def _account_diagnostics(entry: FlatpeakConfigEntry) -> dict[str, Any]:
    return {
        "data": dict(entry.data),
        "api_url": entry.runtime_data.client.base_url,
        "credentials_refused": entry.runtime_data.credentials_refused_verdict
        is not None,
    }


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: FlatpeakConfigEntry
) -> dict[str, Any]:
    """Return the account and every device of it."""
    devices = entry.runtime_data.devices
    return async_redact_data(
        {
            "account": _account_diagnostics(entry),
            "devices": {
                subentry_id: _device_diagnostics(hass, runtime)
                for subentry_id, runtime in devices.items()
            },
        },
        TO_REDACT,
    )


async def async_get_device_diagnostics(
    hass: HomeAssistant, entry: FlatpeakConfigEntry, device: dr.DeviceEntry
) -> dict[str, Any]:
    """Return the account and the one device of the device page."""
    runtime = next(
        (
            runtime
            for subentry_id, runtime in entry.runtime_data.devices.items()
            if belongs_to(device, entry.entry_id, subentry_id)
        ),
        None,
    )
    return async_redact_data(
        {
            "account": _account_diagnostics(entry),
            # None: the device is disabled, nothing of it runs.
            "device": _device_diagnostics(hass, runtime) if runtime else None,
        },
        TO_REDACT,
    )
