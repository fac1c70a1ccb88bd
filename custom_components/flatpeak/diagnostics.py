"""Diagnostics download: configuration, status and last results, redacted."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_ACCOUNT_ID, CONF_SECRET_KEY
from .runtime import FlatpeakConfigEntry

TO_REDACT = {CONF_ACCOUNT_ID, CONF_SECRET_KEY, "token", "bearer_token"}


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
            "api_url": runtime.client.base_url,
            "device": dict(runtime.device.raw) if runtime.device else None,
            "sender": runtime.sender.state.value,
            "status": status,
            "outbox": {
                "queued": len(outbox),
                "dropped": outbox.dropped,
                "rejected": outbox.rejected,
                "oldest": oldest.to_json()
                if (oldest := next(iter(outbox), None))
                else None,
            },
        },
        TO_REDACT,
    )
