"""The ``flatpeak.submit_device_state`` action."""

from __future__ import annotations

from datetime import timedelta
import math
from typing import Any

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_CONFIG_ENTRY_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv, service
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .api import EnergyFlowDirection
from .const import DOMAIN, SERVICE_SUBMIT_DEVICE_STATE
from .runtime import FlatpeakConfigEntry

# Clocks drift: a time up to this far ahead of Home Assistant's is accepted.
MAX_CLOCK_SKEW = timedelta(minutes=1)


def _number(minimum: float, maximum: float = math.inf) -> Any:
    def validate(value: Any) -> float:
        if isinstance(value, bool):
            raise vol.Invalid("expected a number")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise vol.Invalid("expected a number") from None
        if not math.isfinite(number) or not minimum <= number <= maximum:
            raise vol.Invalid(f"must be a number from {minimum:g} to {maximum:g}")
        return number

    return validate


PERCENT = _number(0, 100)
NON_NEGATIVE = _number(0)

SUBMIT_SCHEMA = vol.Schema(
    {
        vol.Optional(ATTR_CONFIG_ENTRY_ID): cv.string,
        vol.Optional("state_of_charge_percent"): PERCENT,
        vol.Optional("target_state_of_charge_percent"): PERCENT,
        vol.Optional("battery_power_kw"): NON_NEGATIVE,
        vol.Optional("energy_flow_direction"): vol.All(
            vol.Upper, vol.Coerce(EnergyFlowDirection)
        ),
        vol.Optional("energy_remaining_kwh"): NON_NEGATIVE,
        vol.Optional("backup_reserve_percent"): PERCENT,
        vol.Optional("time"): cv.datetime,
    }
)


def _entry(hass: HomeAssistant, call: ServiceCall) -> FlatpeakConfigEntry:
    """Return the loaded entry the call is for; one entry needs no id."""
    if (entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID)) is None:
        entries = hass.config_entries.async_entries(DOMAIN)
        if not entries:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="no_config_entry"
            )
        if len(entries) > 1:
            raise ServiceValidationError(
                translation_domain=DOMAIN, translation_key="config_entry_required"
            )
        entry_id = entries[0].entry_id
        if entries[0].state is not ConfigEntryState.LOADED:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="config_entry_not_loaded",
                translation_placeholders={"title": entries[0].title},
            )
    entry: FlatpeakConfigEntry = service.async_get_config_entry(hass, DOMAIN, entry_id)
    return entry


def _overrides(data: dict[str, Any], max_age: timedelta) -> dict[str, Any]:
    """Return the validated overrides, named like the API's fields.

    A ``time`` older than the outbox keeps records would be dropped unsent:
    it is refused.
    """
    overrides = {k: v for k, v in data.items() if k != ATTR_CONFIG_ENTRY_ID}
    if (when := overrides.get("time")) is not None:
        when = dt_util.as_utc(when)
        now = dt_util.utcnow()
        if when > now + MAX_CLOCK_SKEW:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="time_in_future",
                translation_placeholders={"time": when.isoformat()},
            )
        if when < now - max_age:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="time_too_old",
                translation_placeholders={
                    "time": when.isoformat(),
                    "hours": f"{max_age.total_seconds() / 3600:g}",
                },
            )
        overrides["time"] = when
    power = overrides.get("battery_power_kw")
    if power and "energy_flow_direction" not in overrides:
        raise ServiceValidationError(
            translation_domain=DOMAIN, translation_key="direction_required"
        )
    if power == 0:
        overrides["energy_flow_direction"] = None
    return overrides


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""

    async def submit_device_state(call: ServiceCall) -> ServiceResponse:
        entry = _entry(hass, call)
        runtime = entry.runtime_data
        overrides = _overrides(dict(call.data), runtime.settings.outbox_max_age)
        state, record = await runtime.async_submit_now(overrides)
        if not call.return_response:
            return None
        return {
            "id": record.id,
            "device_id": record.device_id,
            "time_created": record.time_created.isoformat(),
            "body": state.to_json(),
        }

    hass.services.async_register(
        DOMAIN,
        SERVICE_SUBMIT_DEVICE_STATE,
        submit_device_state,
        schema=SUBMIT_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
