"""The Energy dashboard's batteries: the one place that reads its preferences.

Home Assistant publishes no API for the Energy dashboard's preferences: they
are read through ``homeassistant.components.energy.data``, an internal module
whose shape may change in any release. Everything about it is here, guarded:
if the module, its manager or the battery's state of charge (``stat_soc``,
since Home Assistant 2026.4) is not what we read, the mapping from the Energy
dashboard is simply not offered, and the reason is logged once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from homeassistant.core import HomeAssistant
from homeassistant.helpers.importlib import async_import_module
from homeassistant.util.hass_dict import HassKey

from ..const import LOGGER

ENERGY_DATA_MODULE: Final = "homeassistant.components.energy.data"
_LOGGED: HassKey[bool] = HassKey("flatpeak_energy_dashboard_unreadable")


async def async_energy_battery_sources(hass: HomeAssistant) -> list[dict[str, Any]]:
    """Return the dashboard's battery sources that have a state of charge.

    Empty when it has none, and when the dashboard cannot be read (logged once
    per run, at info level: nothing else depends on it).
    """
    try:
        # Off the event loop when not imported yet, as Home Assistant asks.
        energy = await async_import_module(hass, ENERGY_DATA_MODULE)
        if not has_state_of_charge(energy):
            return []
        manager = await energy.async_get_manager(hass)
        prefs: Mapping[str, Any] = manager.data or {}
        sources = [dict(source) for source in prefs.get("energy_sources", [])]
    except Exception as err:  # noqa: BLE001 - an internal module: any change degrades
        if not hass.data.get(_LOGGED):
            hass.data[_LOGGED] = True
            LOGGER.info(
                "The Energy dashboard's batteries cannot be read (%s: %s); "
                "mapping a battery from it is not offered",
                type(err).__name__,
                err,
            )
        return []
    return [
        source
        for source in sources
        if source.get("type") == "battery" and source.get("stat_soc")
    ]


def has_state_of_charge(energy: Any) -> bool:
    """Return whether the dashboard's battery has a state of charge (2026.4+)."""
    return "stat_soc" in getattr(energy.BatterySourceType, "__annotations__", {})
