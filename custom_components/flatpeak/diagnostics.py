"""Diagnostics download: configuration, status and last results, redacted."""

from __future__ import annotations

from dataclasses import asdict, fields, is_dataclass
from datetime import datetime
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr

from .account.registry_compat import belongs_to
from .account.runtime import FlatpeakConfigEntry, FlatpeakRuntimeData
from .const import CONF_ACCOUNT_ID, CONF_SECRET_KEY
from .coordinator import FlatpeakReadCoordinator
from .mapping.battery_mapping import BatteryMapping

# Secrets; and where the home is, which Flatpeak's device and location objects
# may carry (``geo_location`` in its yotta version): the download goes to bug
# reports.
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
    "customer_id",
}


def _plain(value: Any) -> Any:
    """Return a read's answer (models, times, tuples) as plain JSON values."""
    if is_dataclass(value) and not isinstance(value, type):
        return {
            item.name: _plain(getattr(value, item.name))
            for item in fields(value)
            if item.name != "raw"
        }
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    return value


def _read(coordinator: FlatpeakReadCoordinator[Any]) -> dict[str, Any]:
    """Return a read's last answer and how the last attempt went."""
    return {
        "last_answer": _plain(coordinator.data),
        "last_update_success": coordinator.last_update_success,
        "last_error": coordinator.last_error,
        "failures": coordinator.failures,
    }


def _device_reads(
    entry: FlatpeakConfigEntry, runtime: FlatpeakRuntimeData
) -> dict[str, Any] | None:
    """Return what the device's reads last got (None: the account reads nothing)."""
    reads = entry.runtime_data.reads
    if (
        reads is None
        or (device := reads.devices.get(runtime.context.subentry_id)) is None
    ):
        return None
    return {
        "location_id": device.location_id,
        "state_at_flatpeak": _read(device.state),
        "vpp_participations": _read(device.vpp),
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
    hass: HomeAssistant, entry: FlatpeakConfigEntry, runtime: FlatpeakRuntimeData
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
        "reads": _device_reads(entry, runtime),
    }


def _account_diagnostics(entry: FlatpeakConfigEntry) -> dict[str, Any]:
    reads = entry.runtime_data.reads
    return {
        "data": dict(entry.data),
        "options": dict(entry.options),
        "api_url": entry.runtime_data.client.base_url,
        "credentials_refused": entry.runtime_data.credentials_refused_verdict
        is not None,
        "read_from_flatpeak": reads is not None,
        "locations": {
            location_id: {
                "location": _read(location.location),
                "prices": {
                    direction.value: _read(prices)
                    for direction, prices in location.prices.items()
                },
            }
            for location_id, location in (reads.locations if reads else {}).items()
        },
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
                subentry_id: _device_diagnostics(hass, entry, runtime)
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
            "device": _device_diagnostics(hass, entry, runtime) if runtime else None,
        },
        TO_REDACT,
    )
