"""The demo home's simulated battery as a device (scripts/develop and the e2e tests only).

Template sensors cannot belong to a device, and the Flatpeak battery step
offers devices with a battery sensor: this tiny integration puts the simulated
battery's sensors (driven by ``input_number.demo_battery_*``) on a device
"Demo battery". It is not part of the Flatpeak integration.
"""

from __future__ import annotations

from homeassistant.config_entries import SOURCE_IMPORT, ConfigEntry
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.typing import ConfigType

DOMAIN = "demo_battery"


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Create the demo battery's entry from ``demo_battery:`` in YAML, once."""
    if DOMAIN in config and not hass.config_entries.async_entries(DOMAIN):
        hass.async_create_task(
            hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_IMPORT}, data={}
            )
        )
    return True


async def async_setup_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Set up the demo battery's sensors."""
    await hass.config_entries.async_forward_entry_setups(entry, [Platform.SENSOR])
    return True


async def async_unload_entry(hass: HomeAssistant, entry: ConfigEntry) -> bool:
    """Unload the sensors."""
    return await hass.config_entries.async_unload_platforms(entry, [Platform.SENSOR])
