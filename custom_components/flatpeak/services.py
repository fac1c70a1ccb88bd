"""The integration's actions: ``submit_device_state`` and ``find_best_window``.

Both are for one loaded device, resolved in one place (``resolve_device``).
"""

from __future__ import annotations

from datetime import timedelta
import math
from typing import Any

from homeassistant.config_entries import ConfigEntryState, ConfigSubentry
from homeassistant.const import ATTR_CONFIG_ENTRY_ID, CONF_DEVICE
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    service,
)
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .account.registry_compat import belongs_to
from .account.runtime import FlatpeakConfigEntry, FlatpeakRuntimeData
from .api import EnergyFlowDirection
from .const import (
    DOMAIN,
    SERVICE_FIND_BEST_WINDOW,
    SERVICE_SUBMIT_DEVICE_STATE,
    SUBENTRY_DEVICE,
)
from .delivery.errors import validation_error
from .reads.best_window import (
    FIND_BEST_WINDOW_SCHEMA,
    WindowRequest,
    async_find_best_window,
)

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
        vol.Optional(CONF_DEVICE): cv.string,
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


def _is_wanted(
    hass: HomeAssistant, wanted: str, entry_id: str, subentry: ConfigSubentry
) -> bool:
    """Return whether ``wanted`` (a Home Assistant device ID or a Flatpeak one) is it."""
    if wanted == subentry.unique_id:
        return True
    device = dr.async_get(hass).async_get(wanted)
    return device is not None and belongs_to(device, entry_id, subentry.subentry_id)


def resolve_device(hass: HomeAssistant, call: ServiceCall) -> FlatpeakRuntimeData:
    """Return the loaded device the call is for.

    Without ``config_entry_id`` every account counts; without ``device``
    the account (or all of them) must have exactly one device.
    """
    if (entry_id := call.data.get(ATTR_CONFIG_ENTRY_ID)) is not None:
        entries = [service.async_get_config_entry(hass, DOMAIN, entry_id)]
    else:
        entries = hass.config_entries.async_entries(DOMAIN, include_ignore=False)
    devices = [
        (entry, subentry)
        for entry in entries
        for subentry in entry.subentries.values()
        if subentry.subentry_type == SUBENTRY_DEVICE
    ]
    # Empty (a blueprint's device left empty) is the same as not given.
    if wanted := call.data.get(CONF_DEVICE):
        devices = [
            (entry, subentry)
            for entry, subentry in devices
            if _is_wanted(hass, wanted, entry.entry_id, subentry)
        ]
        if not devices:
            raise validation_error("device_unknown", device=wanted)
    elif not devices:
        raise validation_error("no_config_entry")
    elif len(devices) > 1:
        raise validation_error("device_required")
    entry, subentry = devices[0]
    if entry.state is not ConfigEntryState.LOADED:
        raise validation_error("config_entry_not_loaded", title=entry.title)
    typed: FlatpeakConfigEntry = entry
    if (runtime := typed.runtime_data.devices.get(subentry.subentry_id)) is None:
        raise validation_error("device_disabled", title=subentry.title)
    return runtime


def _overrides(data: dict[str, Any], max_age: timedelta) -> dict[str, Any]:
    """Return the validated overrides, named like the API's fields.

    A ``time`` older than the outbox keeps records would be dropped unsent:
    it is refused.
    """
    overrides = {
        k: v for k, v in data.items() if k not in (ATTR_CONFIG_ENTRY_ID, CONF_DEVICE)
    }
    if (when := overrides.get("time")) is not None:
        when = dt_util.as_utc(when)
        now = dt_util.utcnow()
        if when > now + MAX_CLOCK_SKEW:
            raise validation_error("time_in_future", time=when.isoformat())
        if when < now - max_age:
            raise validation_error(
                "time_too_old",
                time=when.isoformat(),
                hours=f"{max_age.total_seconds() / 3600:g}",
            )
        overrides["time"] = when
    power = overrides.get("battery_power_kw")
    if power and "energy_flow_direction" not in overrides:
        raise validation_error("direction_required")
    if power == 0:
        overrides["energy_flow_direction"] = None
    return overrides


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""

    async def submit_device_state(call: ServiceCall) -> ServiceResponse:
        runtime = resolve_device(hass, call)
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

    async def find_best_window(call: ServiceCall) -> ServiceResponse:
        request = WindowRequest.from_data(call.data, dt_util.utcnow())
        return await async_find_best_window(resolve_device(hass, call), request)

    hass.services.async_register(
        DOMAIN,
        SERVICE_FIND_BEST_WINDOW,
        find_best_window,
        schema=FIND_BEST_WINDOW_SCHEMA,
        supports_response=SupportsResponse.ONLY,
    )
