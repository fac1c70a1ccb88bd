"""The account's flows: the first run, reauth and reconfigure.

The first run is one flow: the credentials, the first device's ID, its
battery mapping; it creates the account entry with its first device
subentry. More devices are added from the entry's page (``flows/device_flow.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import (
    ConfigFlow,
    ConfigFlowResult,
    ConfigSubentryData,
    ConfigSubentryFlow,
    OptionsFlow,
)
from homeassistant.const import CONF_DEVICE_ID
from homeassistant.core import callback

from .account.migration import (
    ACCOUNT_VERSION,
    account_data,
    account_title,
    account_unique_id,
)
from .account.runtime import FlatpeakConfigEntry
from .api import Device
from .const import CONF_ACCOUNT_ID, CONF_SECRET_KEY, DOMAIN, SUBENTRY_DEVICE
from .flows.device_flow import DeviceSubentryFlow, device_form, device_title
from .flows.mapping_steps import BatteryMappingSteps
from .flows.options_flow import FlatpeakOptionsFlow
from .flows.schemas import (
    BEHAVIOUR_DEFAULTS,
    CREDENTIALS_SCHEMA,
    REAUTH_SCHEMA,
    SECTION_ADVANCED,
    credentials_schema,
)
from .flows.validation import (
    credentials_form_values,
    credentials_from_form,
    form_errors,
    id_errors,
    opens_advanced,
    validate_credentials,
)

if TYPE_CHECKING:
    from .account.runtime import FlatpeakConfigEntry


class FlatpeakConfigFlow(BatteryMappingSteps, ConfigFlow, domain=DOMAIN):
    """Add a Flatpeak account: credentials, its first device, the battery mapping."""

    VERSION = ACCOUNT_VERSION

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._data: dict[str, Any] = {}
        self._device = Device(id="")

    @classmethod
    @callback
    def async_get_supported_subentry_types(
        cls, config_entry: FlatpeakConfigEntry
    ) -> dict[str, type[ConfigSubentryFlow]]:
        """Each Flatpeak device of the account is a subentry."""
        return {SUBENTRY_DEVICE: DeviceSubentryFlow}

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: FlatpeakConfigEntry) -> OptionsFlow:
        """The account's options: whether it reads from Flatpeak."""
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
            advanced_open=opens_advanced(errors),
        )
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                schema, credentials_form_values(data, errors, user_input or {})
            ),
            errors=errors,
        )

    def _configured_account(
        self, data: Mapping[str, Any]
    ) -> FlatpeakConfigEntry | None:
        """Return the other entry of the same account (and API URL), if any."""
        unique_id = account_unique_id(data)
        return next(
            (
                entry
                for entry in self._async_current_entries(include_ignore=False)
                if entry.unique_id == unique_id
                and entry.entry_id != self.context.get("entry_id")
            ),
            None,
        )

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the account's credentials (and its API URL)."""
        errors: dict[str, str] = {}
        data: dict[str, Any] = {}
        if user_input is not None:
            data = credentials_from_form(user_input, {})
            if not (errors := id_errors(data, CONF_ACCOUNT_ID)):
                if self._configured_account(data) is not None:
                    # An error, not an abort: what was typed stays.
                    errors = {CONF_ACCOUNT_ID: "account_already_configured"}
                else:
                    errors = await validate_credentials(self.hass, data)
            errors = form_errors(errors, CREDENTIALS_SCHEMA.schema)
            if not errors:
                self._data = account_data(data)
                return await self.async_step_device()
        return self._credentials_form("user", data, user_input, errors)

    async def async_step_device(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the account's first Flatpeak device (checked live)."""
        result = await device_form(self, self._data, user_input, step_id="device")
        if isinstance(result, Device):
            self._device = result
            battery: ConfigFlowResult = await self.async_step_battery_source()
            return battery
        form: ConfigFlowResult = result
        return form

    def mapping_placeholders(self) -> dict[str, str]:
        """Name the Flatpeak device in the battery forms."""
        return {"title": device_title(self._device, [])}

    async def async_save_mapping(self, options: dict[str, Any]) -> ConfigFlowResult:
        """Create the account entry with its first device."""
        await self.async_set_unique_id(
            account_unique_id(self._data), raise_on_progress=False
        )
        device = ConfigSubentryData(
            data={CONF_DEVICE_ID: self._device.id, **BEHAVIOUR_DEFAULTS, **options},
            subentry_type=SUBENTRY_DEVICE,
            title=device_title(self._device, []),
            unique_id=self._device.id,
        )
        others = [entry.data for entry in self._async_current_entries()]
        return self.async_create_entry(
            title=account_title(self._data, others),
            data=self._data,
            subentries=[device],
        )

    def _async_update_and_reload(
        self, entry: FlatpeakConfigEntry, *, reason: str, **changes: Any
    ) -> ConfigFlowResult:
        """Update the account entry and reload it with every device.

        A loaded entry's update listener reloads it when it changed; an
        unchanged one (the stored key tried again), or one that is not loaded,
        is reloaded here.
        """
        # Read first: the listener starts (and unloads the entry) at once.
        listens = bool(entry.update_listeners)
        if not self.hass.config_entries.async_update_entry(entry, **changes) or (
            not listens
        ):
            self.hass.config_entries.async_schedule_reload(entry.entry_id)
        return self.async_abort(reason=reason)

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Flatpeak refused the account's credentials: ask for the secret key again."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new secret key; left empty, the stored one is tried again."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = credentials_from_form(user_input, entry.data)
            found = await validate_credentials(self.hass, data)
            errors = form_errors(found, REAUTH_SCHEMA.schema)
            if not errors:
                return self._async_update_and_reload(
                    entry,
                    reason="reauth_successful",
                    data={**entry.data, CONF_SECRET_KEY: data[CONF_SECRET_KEY]},
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=REAUTH_SCHEMA,
            errors=errors,
            description_placeholders={
                "account_id": entry.data[CONF_ACCOUNT_ID],
                "devices": ", ".join(s.title for s in entry.subentries.values()),
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the account's secret key or API URL.

        The entry is its account: another account ID is another entry.
        """
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        data: dict[str, Any] = dict(entry.data)
        if user_input is not None:
            data = credentials_from_form(user_input, entry.data)
            if not (errors := id_errors(data, CONF_ACCOUNT_ID)):
                if data[CONF_ACCOUNT_ID] != entry.data[CONF_ACCOUNT_ID]:
                    errors = {CONF_ACCOUNT_ID: "another_account"}
                elif self._configured_account(data) is not None:
                    errors = {SECTION_ADVANCED: "account_already_configured"}
                else:
                    errors = await validate_credentials(self.hass, data)
            errors = form_errors(errors, CREDENTIALS_SCHEMA.schema)
            if not errors:
                return self._async_update_and_reload(
                    entry,
                    reason="reconfigure_successful",
                    data=account_data(data),
                    unique_id=account_unique_id(data),
                )
        return self._credentials_form("reconfigure", data, user_input, errors)
