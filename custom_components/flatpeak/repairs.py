"""Repair flows: fix a device's broken battery mapping; check a missing device again."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.config_entries import ConfigSubentry
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import HomeAssistant
from homeassistant.helpers import translation
import voluptuous as vol

from .account.issues import (
    DEVICE_ISSUE_PREFIX,
    async_delete_device_issue,
    async_delete_mapping_issue,
)
from .const import DOMAIN
from .flows.mapping_steps import BatteryMappingSteps
from .flows.validation import validate_device
from .mapping.forms import is_mapping_key
from .mapping.readings import mapping_problems

if TYPE_CHECKING:
    # Only an annotation: Home Assistant 2026.3 has no RepairsFlowResult.
    from homeassistant.components.repairs import RepairsFlowResult

    from .account.runtime import FlatpeakConfigEntry

# Where the user reconfigures or deletes an entry (the integration's page).
INTEGRATION_PAGE = f"/config/integrations/integration/{DOMAIN}"


class _DeviceRepairFlowBase(RepairsFlow):
    """A fix flow about one device subentry of an account entry.

    Home Assistant's repairs manager passes ``{"issue_id": ...}`` as the first
    input of ``async_step_init``: init only forwards to the form's own step.
    """

    def __init__(self, entry_id: str, subentry_id: str) -> None:
        """Remember which device the issue is about."""
        self._entry_id = entry_id
        self._subentry_id = subentry_id

    def _entry(self) -> FlatpeakConfigEntry | None:
        """Return the account entry, unless it or the device was removed."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None or self._subentry_id not in entry.subentries:
            return None
        return entry

    def _subentry(self) -> ConfigSubentry | None:
        entry = self._entry()
        return entry.subentries[self._subentry_id] if entry is not None else None


class MappingRepairFlow(BatteryMappingSteps, _DeviceRepairFlowBase):
    """Say what is broken, then the mapping steps; saving updates the device.

    The same choice of source as when adding the device; every setting the
    battery forms do not show (the submission settings) is kept.
    """

    _problems = ""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Open the choice of source, or the mapping form pre-filled."""
        if (subentry := self._subentry()) is None:
            return self.async_abort(reason="entry_removed")
        self._problems = await async_problems_text(self.hass, subentry.data)
        result: RepairsFlowResult = await self.async_step_battery_source()
        return result

    async def async_step_battery(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Map the entities, unless the device was removed meanwhile."""
        if self._subentry() is None:
            return self.async_abort(reason="entry_removed")
        result: RepairsFlowResult = await super().async_step_battery(user_input)
        return result

    def mapping_defaults(self) -> Mapping[str, Any]:
        """Start from the device's current mapping."""
        subentry = self._subentry()
        return subentry.data if subentry is not None else {}

    def mapping_placeholders(self) -> dict[str, str]:
        """Name the device and what is broken in the forms."""
        subentry = self._subentry()
        return {
            "title": subentry.title if subentry is not None else "",
            "problems": self._problems,
        }

    async def async_save_mapping(self, options: dict[str, Any]) -> RepairsFlowResult:
        """Replace the mapping and clear the issue (the account entry reloads)."""
        if (entry := self._entry()) is None or (subentry := self._subentry()) is None:
            return self.async_abort(reason="entry_removed")
        kept = {k: v for k, v in subentry.data.items() if not is_mapping_key(k)}
        async_delete_mapping_issue(self.hass, subentry.subentry_id)
        self.hass.config_entries.async_update_subentry(
            entry, subentry, data={**kept, **options}
        )
        return self.async_create_entry(data={})


class DeviceRepairFlow(_DeviceRepairFlowBase):
    """Flatpeak no longer knows the device: check again, or add the new one.

    A device subentry belongs to its device ID (its unique ID), so the fix
    cannot switch it to another device: it checks the same device again (it
    may be back), and links to the integration's page to add the new device
    to the account and delete this one.
    """

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Explain the situation."""
        return await self.async_step_check()

    async def async_step_check(
        self, user_input: dict[str, Any] | None = None
    ) -> RepairsFlowResult:
        """Look the device up again; found, the account is reloaded and resumes."""
        if (entry := self._entry()) is None or (subentry := self._subentry()) is None:
            return self.async_abort(reason="entry_removed")
        device_id = str(subentry.data[CONF_DEVICE_ID])
        errors: dict[str, str] = {}
        if user_input is not None:
            _, errors = await validate_device(self.hass, entry.data, device_id)
            if not errors:
                async_delete_device_issue(self.hass, subentry.subentry_id)
                await self.hass.config_entries.async_reload(entry.entry_id)
                return self.async_create_entry(data={})
            errors = {"base": next(iter(errors.values()))}
        return self.async_show_form(
            step_id="check",
            data_schema=vol.Schema({}),
            errors=errors,
            description_placeholders={
                "device_id": device_id,
                "title": subentry.title,
                "integration_page": INTEGRATION_PAGE,
            },
        )


async def async_problems_text(hass: HomeAssistant, options: Mapping[str, Any]) -> str:
    """Return each broken mapped entity and what is wrong with it, translated.

    A Markdown list, one line per entity: "- sensor.x: This entity does not exist."
    """
    problems = mapping_problems(hass, options)
    translations = await translation.async_get_translations(
        hass, hass.config.language, "config", [DOMAIN]
    )
    return "\n".join(
        f"- {options[field]}: "
        + translations.get(f"component.{DOMAIN}.config.error.{problem}", problem)
        for field, problem in sorted(problems.items())
    )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Create the flow that fixes the issue ``issue_id``.

    An issue raised by 0.2 names only its entry: that entry is now the
    device subentry of the same ID, in the account entry that holds it.
    """
    data = data or {}
    subentry_id = str(data.get("subentry_id") or data["entry_id"])
    entry_id = str(data["entry_id"])
    if "subentry_id" not in data:
        entry_id = next(
            (
                entry.entry_id
                for entry in hass.config_entries.async_entries(DOMAIN)
                if subentry_id in entry.subentries
            ),
            entry_id,
        )
    if issue_id.startswith(DEVICE_ISSUE_PREFIX):
        return DeviceRepairFlow(entry_id, subentry_id)
    return MappingRepairFlow(entry_id, subentry_id)
