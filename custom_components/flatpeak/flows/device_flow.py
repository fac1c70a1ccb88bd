"""A Flatpeak device of an account: add it (device ID, then the mapping), reconfigure it.

Reconfigure opens a menu: the battery mapping (the mapping steps, pre-filled)
or the submission settings (without walking the mapping). The device ID is
shown, never changed: a device's queued records and history belong to it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import (
    SOURCE_RECONFIGURE,
    ConfigSubentryFlow,
    SubentryFlowResult,
)
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.data_entry_flow import FlowHandler

from ..api import Device
from ..mapping.forms import is_mapping_key
from .mapping_steps import BatteryMappingSteps
from .schemas import (
    BEHAVIOUR_DEFAULTS,
    DEVICE_ID_SCHEMA,
    SETTINGS_SCHEMA,
    settings_form_values,
    settings_from_form,
)
from .validation import entry_of_device, form_errors, validate_device

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigSubentry


def device_title(device: Device, taken: Iterable[str]) -> str:
    """Return the device's name, told apart from the account's other devices."""
    title = device.title
    if title in set(taken):
        title = f"{title} ({device.reference_id or device.id})"
    return title


async def device_form(
    flow: FlowHandler[Any, Any, Any],
    account: Mapping[str, Any],
    user_input: Mapping[str, Any] | None,
    *,
    step_id: str,
) -> Device | Any:
    """Ask for a device ID and look it up live; return the device, or the form.

    A device some account entry has already, or one Flatpeak does not know
    with these credentials, is an error on the field: what was typed stays.
    An error about the account (its secret key refused, its URL not
    Flatpeak's) shows at the form's top: the form has no field for it.
    """
    errors: dict[str, str] = {}
    placeholders: dict[str, str] = {}
    if user_input is not None:
        device_id = str(user_input.get(CONF_DEVICE_ID, "")).strip()
        if (owner := entry_of_device(flow.hass, device_id)) is not None:
            errors = {CONF_DEVICE_ID: "device_already_configured"}
            placeholders = {"account": owner.title}
        else:
            device, found = await validate_device(flow.hass, account, device_id)
            if device is not None:
                return device
            errors = form_errors(found, DEVICE_ID_SCHEMA.schema)
    return flow.async_show_form(
        step_id=step_id,
        data_schema=flow.add_suggested_values_to_schema(
            DEVICE_ID_SCHEMA, dict(user_input or {})
        ),
        errors=errors,
        description_placeholders=placeholders,
    )


class DeviceSubentryFlow(BatteryMappingSteps, ConfigSubentryFlow):
    """Add a Flatpeak device to an account, or change its mapping or settings."""

    _device: Device | None = None

    # --- adding a device ------------------------------------------------------

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Ask for the device ID (checked with the account's credentials)."""
        entry = self._get_entry()
        result = await device_form(self, entry.data, user_input, step_id="user")
        if isinstance(result, Device):
            self._device = result
            battery: SubentryFlowResult = await self.async_step_battery_source()
            return battery
        found: SubentryFlowResult = result
        return found

    def _subentry(self) -> ConfigSubentry:
        return self._get_reconfigure_subentry()

    # --- reconfiguring a device -----------------------------------------------

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Choose what to change: the battery mapping or the submission settings."""
        subentry = self._subentry()
        menu: SubentryFlowResult = self.async_show_menu(
            step_id="reconfigure",
            menu_options=["battery_source", "settings"],
            description_placeholders={
                "title": subentry.title,
                "device_id": str(subentry.unique_id),
            },
        )
        return menu

    async def async_step_settings(
        self, user_input: dict[str, Any] | None = None
    ) -> SubentryFlowResult:
        """Change when states are submitted and the outbox bounds."""
        subentry = self._subentry()
        if user_input is not None:
            return self.async_update_and_abort(
                self._get_entry(),
                subentry,
                data={**subentry.data, **settings_from_form(user_input)},
            )
        values = settings_form_values({**BEHAVIOUR_DEFAULTS, **subentry.data})
        form: SubentryFlowResult = self.async_show_form(
            step_id="settings",
            data_schema=self.add_suggested_values_to_schema(SETTINGS_SCHEMA, values),
            description_placeholders={
                "title": subentry.title,
                "device_id": str(subentry.unique_id),
            },
        )
        return form

    # --- the mapping steps ----------------------------------------------------

    def mapping_defaults(self) -> Mapping[str, Any]:
        """Start from the stored mapping when reconfiguring."""
        return self._subentry().data if self.source == SOURCE_RECONFIGURE else {}

    def mapping_placeholders(self) -> dict[str, str]:
        """Name the Flatpeak device in the battery forms."""
        if self._device is not None:
            return {"title": self._new_title(self._device)}
        return {"title": self._subentry().title}

    def _new_title(self, device: Device) -> str:
        taken = (s.title for s in self._get_entry().subentries.values())
        return device_title(device, taken)

    async def async_save_mapping(self, options: dict[str, Any]) -> SubentryFlowResult:
        """Add the device, or replace its mapping (its settings are kept)."""
        entry = self._get_entry()
        if self._device is not None:
            return self.async_create_entry(
                title=self._new_title(self._device),
                data={CONF_DEVICE_ID: self._device.id, **BEHAVIOUR_DEFAULTS, **options},
                unique_id=self._device.id,
            )
        subentry = self._subentry()
        kept = {k: v for k, v in subentry.data.items() if not is_mapping_key(k)}
        # The entry's update listener reloads it.
        return self.async_update_and_abort(entry, subentry, data={**kept, **options})
