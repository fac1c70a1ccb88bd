"""Repair flows: fix a broken battery mapping; check a missing device again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigEntry
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant
import voluptuous as vol

from .const import DOMAIN
from .flow_validation import validate_credentials
from .issues import (
    DEVICE_ISSUE_PREFIX,
    async_delete_device_issue,
    async_delete_mapping_issue,
)
from .mapping_flow import BatteryMappingSteps
from .mapping_forms import is_mapping_key

if TYPE_CHECKING:
    # Only an annotation: Home Assistant 2026.3 has no RepairsFlowResult.
    from homeassistant.components.repairs import RepairsFlowResult

# Where the user reconfigures or deletes an entry (the integration's page).
INTEGRATION_PAGE = f"/config/integrations/integration/{DOMAIN}"


class _EntryRepairFlow(RepairsFlow):
    """A fix flow about one config entry.

    Home Assistant's repairs manager passes ``{"issue_id": ...}`` as the first
    input of ``async_step_init``: init only forwards to the form's own step.
    """

    def __init__(self, entry_id: str) -> None:
        """Remember which entry the issue is about."""
        self._entry_id = entry_id

    def _entry(self) -> ConfigEntry | None:
        return self.hass.config_entries.async_get_entry(self._entry_id)


class MappingRepairFlow(BatteryMappingSteps, _EntryRepairFlow):
    """Show the current mapping; saving updates the entry's options and reloads it.

    The same choice of source as when adding the entry; every option the
    battery forms do not show (the submission options) is kept.
    """

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Open the choice of source, or the mapping form pre-filled."""
        if self._entry() is None:
            return self.async_abort(reason="entry_removed")
        result: RepairsFlowResult = await self.async_step_battery_source()
        return result

    async def async_step_battery(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Map the entities, unless the entry was removed meanwhile."""
        if self._entry() is None:
            return self.async_abort(reason="entry_removed")
        result: RepairsFlowResult = await super().async_step_battery(user_input)
        return result

    def mapping_defaults(self) -> Mapping[str, Any]:
        """Start from the entry's current mapping."""
        entry = self._entry()
        return entry.options if entry is not None else {}

    def mapping_placeholders(self) -> dict[str, str]:
        """Name the entry in the forms."""
        entry = self._entry()
        return {"title": entry.title if entry is not None else ""}

    async def async_save_mapping(self, options: dict[str, Any]) -> RepairsFlowResult:
        """Replace the mapping, clear the issue and reload the entry."""
        if (entry := self._entry()) is None:
            return self.async_abort(reason="entry_removed")
        kept = {k: v for k, v in entry.options.items() if not is_mapping_key(k)}
        self.hass.config_entries.async_update_entry(entry, options={**kept, **options})
        async_delete_mapping_issue(self.hass, entry.entry_id)
        await self.hass.config_entries.async_reload(entry.entry_id)
        return self.async_create_entry(data={})


class DeviceRepairFlow(_EntryRepairFlow):
    """Flatpeak no longer knows the entry's device: check again, or go reconfigure.

    The entry belongs to its device (its unique ID), so the fix cannot switch
    it to another device: it checks the same device again (it may be back),
    and links to the integration's page to add the new device or delete this
    entry.
    """

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Explain the situation."""
        return await self.async_step_check()

    async def async_step_check(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Look the device up again; found, the entry is reloaded and resumes."""
        if (entry := self._entry()) is None:
            return self.async_abort(reason="entry_removed")
        errors: dict[str, str] = {}
        if user_input is not None:
            _, errors = await validate_credentials(self.hass, entry.data)
            if not errors:
                async_delete_device_issue(self.hass, entry.entry_id)
                await self.hass.config_entries.async_reload(entry.entry_id)
                return self.async_create_entry(data={})
            errors = {"base": next(iter(errors.values()))}
        return self.async_show_form(
            step_id="check",
            data_schema=vol.Schema({}),
            errors=errors,
            description_placeholders={
                "device_id": str(entry.data[CONF_DEVICE_ID]),
                "title": entry.title,
                "integration_page": INTEGRATION_PAGE,
            },
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Create the flow that fixes the issue ``issue_id``."""
    entry_id = str((data or {})["entry_id"])
    if issue_id.startswith(DEVICE_ISSUE_PREFIX):
        return DeviceRepairFlow(entry_id)
    return MappingRepairFlow(entry_id)
