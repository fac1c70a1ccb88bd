"""Diagnostics download: configuration, status and last results, redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant

from .const import CONF_ACCOUNT_ID, CONF_SECRET_KEY
from .mapping import BatteryMapping
from .runtime import FlatpeakConfigEntry

TO_REDACT = {CONF_ACCOUNT_ID, CONF_SECRET_KEY, "token", "bearer_token"}


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


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: FlatpeakConfigEntry
) -> dict[str, Any]:
    """Return diagnostics for a config entry."""
    runtime = entry.runtime_data
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
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "mapping": asdict(runtime.mapping),
            "mapped_entities": mapped_entity_states(hass, runtime.mapping),
            "api_url": runtime.client.base_url,
            "device": dict(runtime.device.raw) if runtime.device else None,
            "sender": runtime.sender.state.value,
            "status": status,
            "outbox": {
                "queued": len(outbox),
                "dropped": outbox.dropped,
                "rejected": outbox.rejected,
                "oldest": oldest.to_json() if (oldest := outbox.oldest) else None,
            },
        },
        TO_REDACT,
    )
