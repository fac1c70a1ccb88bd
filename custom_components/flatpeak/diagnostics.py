"""Diagnostics download: configuration, status and last results, redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.const import ATTR_DEVICE_CLASS, ATTR_UNIT_OF_MEASUREMENT
from homeassistant.core import HomeAssistant

from .const import CONF_ACCOUNT_ID, CONF_SECRET_KEY
from .coordinator import FlatpeakConfigEntry
from .mapping import BatteryMapping

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
    coordinator = entry.runtime_data
    data = coordinator.data
    status = asdict(data)
    status["status"] = data.status.value
    if data.last_success is not None:
        status["last_success"] = data.last_success.isoformat()
    if (record := data.last_record) is not None:
        status["last_record"] = {
            **asdict(record),
            "time_created": record.time_created.isoformat(),
        }
    return async_redact_data(
        {
            "entry": {
                "title": entry.title,
                "data": dict(entry.data),
                "options": dict(entry.options),
            },
            "mapping": asdict(coordinator.mapping),
            "mapped_entities": mapped_entity_states(hass, coordinator.mapping),
            "api_url": coordinator.client.base_url,
            "device": dict(coordinator.device.raw) if coordinator.device else None,
            "status": status,
            "outbox": {
                "queued": len(coordinator.outbox),
                "dropped": coordinator.outbox.dropped,
                "rejected": coordinator.outbox.rejected,
                "oldest": (
                    oldest.to_json() if (oldest := coordinator.outbox.oldest) else None
                ),
            },
        },
        TO_REDACT,
    )
