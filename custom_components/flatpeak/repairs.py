"""Repair flow: fix a battery mapping whose entities went missing or changed unit."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.core import HomeAssistant

from .config_flow import MAPPING_SCHEMA, validate_mapping
from .issues import async_delete_mapping_issue

if TYPE_CHECKING:
    # Only an annotation: Home Assistant 2026.3 has no RepairsFlowResult.
    from homeassistant.components.repairs import RepairsFlowResult


class MappingRepairFlow(RepairsFlow):
    """Show the mapping form; saving updates the entry's options and reloads it."""

    def __init__(self, entry_id: str) -> None:
        """Remember which entry the issue is about."""
        self._entry_id = entry_id

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Ask for a working mapping."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = validate_mapping(self.hass, user_input)
            if not errors:
                behaviour = {
                    key: value
                    for key, value in entry.options.items()
                    if key not in MAPPING_SCHEMA.schema
                }
                self.hass.config_entries.async_update_entry(
                    entry, options={**behaviour, **user_input}
                )
                async_delete_mapping_issue(self.hass, entry.entry_id)
                await self.hass.config_entries.async_reload(entry.entry_id)
                return self.async_create_entry(data={})
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                MAPPING_SCHEMA, user_input or entry.options
            ),
            errors=errors,
            description_placeholders={"title": entry.title},
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Create the flow that fixes a broken mapping."""
    return MappingRepairFlow(str((data or {})["entry_id"]))
