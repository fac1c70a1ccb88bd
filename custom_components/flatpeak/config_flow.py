"""Config, options, reauth and reconfigure flows for Flatpeak."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import callback
import voluptuous as vol

from .const import CONF_ACCOUNT_ID, CONF_SECRET_KEY, DOMAIN
from .flow_validation import (
    credentials_form_values,
    credentials_from_form,
    form_errors,
    id_errors,
    validate_credentials,
)
from .mapping_flow import BatteryMappingSteps
from .runtime import FlatpeakConfigEntry
from .schemas import (
    BEHAVIOUR_DEFAULTS,
    CREDENTIALS_SCHEMA,
    OPTIONS_SECTIONS,
    REAUTH_SCHEMA,
    SECTION_ADVANCED,
    credentials_schema,
    options_form_values,
    options_from_form,
)


class FlatpeakConfigFlow(BatteryMappingSteps, ConfigFlow, domain=DOMAIN):
    """Add a Flatpeak device: credentials, then the battery mapping."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._data: dict[str, Any] = {}
        self._title = ""

    @staticmethod
    @callback
    def async_get_options_flow(
        config_entry: FlatpeakConfigEntry,
    ) -> FlatpeakOptionsFlow:
        """Return the options flow."""
        return FlatpeakOptionsFlow()

    def _credentials_form(
        self,
        step_id: str,
        data: Mapping[str, Any],
        user_input: Mapping[str, Any] | None,
        errors: dict[str, str],
    ) -> ConfigFlowResult:
        """Show the credentials form again with what was entered (see form values)."""
        schema = credentials_schema(
            secret_required=step_id == "user",
            advanced_open=SECTION_ADVANCED in errors,
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema, credentials_form_values(data, errors, user_input or {})
            ),
            errors=errors,
        )

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the account credentials and the Flatpeak device ID."""
        errors: dict[str, str] = {}
        data: dict[str, Any] = {}
        if user_input is not None:
            data = credentials_from_form(user_input, {})
            if not id_errors(data):
                await self.async_set_unique_id(data[CONF_DEVICE_ID])
                self._abort_if_unique_id_configured()
            device, found = await validate_credentials(self.hass, data)
            errors = form_errors(found, CREDENTIALS_SCHEMA.schema)
            if device is not None:
                self._data = data
                self._title = device.title
                result: ConfigFlowResult = await self.async_step_battery_source()
                return result
        return self._credentials_form("user", data, user_input, errors)

    def mapping_placeholders(self) -> dict[str, str]:
        """Name the Flatpeak device in the battery forms."""
        return {"title": self._title}

    async def async_save_mapping(self, options: dict[str, Any]) -> ConfigFlowResult:
        """Create the entry with the mapping and the default behaviour."""
        return self.async_create_entry(
            title=self._title,
            data=self._data,
            options={**BEHAVIOUR_DEFAULTS, **options},
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Flatpeak refused the credentials: ask for the secret key again."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new secret key; left empty, the stored one is tried again."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = credentials_from_form(user_input, entry.data)
            _, found = await validate_credentials(self.hass, data)
            # The token was issued, so the credentials work: a device Flatpeak
            # no longer knows is the device repair's business, not reauth's.
            if found == {CONF_DEVICE_ID: "device_not_found"}:
                found = {}
            errors = form_errors(found, REAUTH_SCHEMA.schema)
            if not errors:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_SECRET_KEY: data[CONF_SECRET_KEY]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=REAUTH_SCHEMA,
            errors=errors,
            description_placeholders={
                "account_id": entry.data[CONF_ACCOUNT_ID],
                "title": entry.title,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the credentials or the API URL of the same Flatpeak device.

        The entry's unique ID is its device: another device is a new entry.
        """
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        data: dict[str, Any] = dict(entry.data)
        if user_input is not None:
            data = credentials_from_form(user_input, entry.data)
            device, found = await validate_credentials(self.hass, data)
            errors = form_errors(found, CREDENTIALS_SCHEMA.schema)
            if device is not None:
                await self.async_set_unique_id(data[CONF_DEVICE_ID])
                self._abort_if_unique_id_mismatch(
                    reason="another_device",
                    description_placeholders={"device_id": str(entry.unique_id)},
                )
                return self.async_update_reload_and_abort(entry, data_updates=data)
        return self._credentials_form("reconfigure", data, user_input, errors)


class FlatpeakOptionsFlow(BatteryMappingSteps, OptionsFlowWithReload):
    """Change the battery mapping and the submission behaviour."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Start with where the mapping comes from; saving reloads the entry."""
        result: ConfigFlowResult = await self.async_step_battery_source()
        return result

    def mapping_defaults(self) -> Mapping[str, Any]:
        """Start from the stored options."""
        return self.config_entry.options

    def extend_schema(self, schema: vol.Schema) -> vol.Schema:
        """Add the submission and outbox sections under the battery fields."""
        return schema.extend(OPTIONS_SECTIONS)

    def form_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Put the stored behaviour into its sections."""
        return options_form_values(values)

    def form_options(self, user_input: Mapping[str, Any]) -> dict[str, Any]:
        """Flatten the sections."""
        return options_from_form(user_input)

    async def async_save_mapping(self, options: dict[str, Any]) -> ConfigFlowResult:
        """Save the options (the entry reloads)."""
        result: ConfigFlowResult = self.async_create_entry(data=options)
        return result
