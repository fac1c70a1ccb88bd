"""Config, options, reauth and reconfigure flows for Flatpeak."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import PERCENTAGE
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import section
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from . import create_client
from .api import (
    DEFAULT_BASE_URL,
    Device,
    FlatpeakAuthenticationError,
    FlatpeakConnectionError,
    FlatpeakError,
    FlatpeakNotFoundError,
    FlatpeakRateLimitError,
    FlatpeakServerError,
    api_url_is_safe,
)
from .const import (
    CONF_ACCOUNT_ID,
    CONF_API_URL,
    CONF_DEVICE_ID,
    CONF_ENERGY_ENTITY,
    CONF_HEARTBEAT_INTERVAL,
    CONF_MIN_INTERVAL,
    CONF_OUTBOX_MAX_AGE,
    CONF_OUTBOX_MAX_RECORDS,
    CONF_POWER_ENTITY,
    CONF_POWER_SIGN,
    CONF_RESERVE_ENTITY,
    CONF_RESERVE_PERCENT,
    CONF_SECRET_KEY,
    CONF_SOC_ENTITY,
    CONF_SUBMIT_ON_CHANGE,
    CONF_TARGET_SOC_ENTITY,
    CONF_TARGET_SOC_PERCENT,
    DEFAULT_HEARTBEAT_INTERVAL,
    DEFAULT_MIN_INTERVAL,
    DEFAULT_OUTBOX_MAX_AGE,
    DEFAULT_OUTBOX_MAX_RECORDS,
    DEFAULT_SUBMIT_ON_CHANGE,
    DOMAIN,
    LOGGER,
    PowerSign,
)
from .mapping import mapping_problems

TEXT = TextSelector(TextSelectorConfig(autocomplete="off"))
PASSWORD = TextSelector(
    TextSelectorConfig(type=TextSelectorType.PASSWORD, autocomplete="off")
)
URL_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.URL))
PERCENT_SELECTOR = NumberSelector(
    NumberSelectorConfig(
        min=0,
        max=100,
        step=0.1,
        unit_of_measurement=PERCENTAGE,
        mode=NumberSelectorMode.BOX,
    )
)
SECTION_ADVANCED = "advanced_options"
CREDENTIALS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_ACCOUNT_ID): TEXT,
        vol.Required(CONF_SECRET_KEY): PASSWORD,
        vol.Required(CONF_DEVICE_ID): TEXT,
        # Advanced mode is deprecated in Home Assistant: a collapsed section holds
        # what most users never change.
        vol.Required(SECTION_ADVANCED): section(
            vol.Schema(
                {vol.Required(CONF_API_URL, default=DEFAULT_BASE_URL): URL_SELECTOR}
            ),
            {"collapsed": True},
        ),
    }
)
PERCENT_ENTITY = EntitySelector(
    EntitySelectorConfig(domain=["sensor", "number", "input_number"])
)

MAPPING_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SOC_ENTITY): EntitySelector(
            EntitySelectorConfig(
                domain="sensor", device_class=SensorDeviceClass.BATTERY
            )
        ),
        vol.Optional(CONF_TARGET_SOC_ENTITY): PERCENT_ENTITY,
        vol.Optional(CONF_TARGET_SOC_PERCENT): PERCENT_SELECTOR,
        vol.Optional(CONF_POWER_ENTITY): EntitySelector(
            EntitySelectorConfig(domain="sensor", device_class=SensorDeviceClass.POWER)
        ),
        vol.Required(
            CONF_POWER_SIGN, default=PowerSign.POSITIVE_DISCHARGING.value
        ): SelectSelector(
            SelectSelectorConfig(
                options=[sign.value for sign in PowerSign],
                translation_key=CONF_POWER_SIGN,
                mode=SelectSelectorMode.LIST,
            )
        ),
        vol.Optional(CONF_ENERGY_ENTITY): EntitySelector(
            EntitySelectorConfig(
                filter=[
                    {
                        "domain": "sensor",
                        "device_class": SensorDeviceClass.ENERGY_STORAGE,
                    },
                    {"domain": "sensor", "device_class": SensorDeviceClass.ENERGY},
                ]
            )
        ),
        vol.Optional(CONF_RESERVE_ENTITY): PERCENT_ENTITY,
        vol.Optional(CONF_RESERVE_PERCENT): PERCENT_SELECTOR,
    }
)


def _number(minimum: int, maximum: int, unit: str, step: int = 1) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            unit_of_measurement=unit,
            mode=NumberSelectorMode.BOX,
        )
    )


BEHAVIOUR_DEFAULTS: dict[str, Any] = {
    CONF_SUBMIT_ON_CHANGE: DEFAULT_SUBMIT_ON_CHANGE,
    CONF_MIN_INTERVAL: DEFAULT_MIN_INTERVAL,
    CONF_HEARTBEAT_INTERVAL: DEFAULT_HEARTBEAT_INTERVAL,
    CONF_OUTBOX_MAX_AGE: DEFAULT_OUTBOX_MAX_AGE,
    CONF_OUTBOX_MAX_RECORDS: DEFAULT_OUTBOX_MAX_RECORDS,
}
BEHAVIOUR_SCHEMA = vol.Schema(
    {
        vol.Required(
            CONF_SUBMIT_ON_CHANGE, default=DEFAULT_SUBMIT_ON_CHANGE
        ): BooleanSelector(),
        vol.Required(CONF_MIN_INTERVAL, default=DEFAULT_MIN_INTERVAL): _number(
            0, 3600, "s"
        ),
        vol.Required(
            CONF_HEARTBEAT_INTERVAL, default=DEFAULT_HEARTBEAT_INTERVAL
        ): _number(1, 1440, "min"),
        vol.Required(CONF_OUTBOX_MAX_AGE, default=DEFAULT_OUTBOX_MAX_AGE): _number(
            1, 168, "h"
        ),
        vol.Required(
            CONF_OUTBOX_MAX_RECORDS, default=DEFAULT_OUTBOX_MAX_RECORDS
        ): _number(100, 100_000, "records", 100),
    }
)
INTEGER_OPTIONS = (
    CONF_MIN_INTERVAL,
    CONF_HEARTBEAT_INTERVAL,
    CONF_OUTBOX_MAX_AGE,
    CONF_OUTBOX_MAX_RECORDS,
)


def validate_mapping(hass: HomeAssistant, mapping: Mapping[str, Any]) -> dict[str, str]:
    """Return the form errors of a mapping the coordinator could not use."""
    errors = mapping_problems(hass, mapping)
    target = (CONF_TARGET_SOC_ENTITY in mapping, CONF_TARGET_SOC_PERCENT in mapping)
    if all(target):
        errors[CONF_TARGET_SOC_ENTITY] = "entity_or_value"
    elif not any(target):
        errors[CONF_TARGET_SOC_ENTITY] = "target_required"
    if CONF_RESERVE_ENTITY in mapping and CONF_RESERVE_PERCENT in mapping:
        errors[CONF_RESERVE_ENTITY] = "entity_or_value"
    return errors


async def validate_credentials(
    hass: HomeAssistant, data: Mapping[str, Any], fields: Mapping[str, Any]
) -> tuple[Device | None, dict[str, str]]:
    """Check the credentials and device live: get a token, then look the device up.

    Errors are keyed by the form field they belong to when it is in ``fields``,
    else by ``base``.
    """
    errors: dict[str, str] = {}
    device: Device | None = None
    if not api_url_is_safe(data[CONF_API_URL]):
        errors[CONF_API_URL] = "invalid_url"
    else:
        client = create_client(hass, dict(data))
        try:
            await client.authenticate()
            device = await client.get_device(data[CONF_DEVICE_ID])
        except FlatpeakAuthenticationError:
            errors[CONF_SECRET_KEY] = "invalid_auth"
        except FlatpeakNotFoundError:
            errors[CONF_DEVICE_ID] = "device_not_found"
        except FlatpeakRateLimitError:
            errors["base"] = "rate_limited"
        except (FlatpeakConnectionError, FlatpeakServerError):
            errors[CONF_API_URL] = "cannot_connect"
        except FlatpeakError as err:
            LOGGER.error("Unexpected answer from the Flatpeak API: %s", err.message)
            errors["base"] = "unknown"
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while validating the credentials")
            errors["base"] = "unknown"
    return device, {
        (key if key in fields else "base"): error for key, error in errors.items()
    }


def _credentials(
    user_input: Mapping[str, Any], base: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge the form's input (the API URL sits in its section) into entry data."""
    data = {**base, **user_input}
    data.update(data.pop(SECTION_ADVANCED, {}))
    for key in (CONF_ACCOUNT_ID, CONF_SECRET_KEY, CONF_DEVICE_ID, CONF_API_URL):
        if isinstance(data.get(key), str):
            data[key] = data[key].strip()
    data[CONF_API_URL] = (data.get(CONF_API_URL) or DEFAULT_BASE_URL).rstrip("/")
    return data


def _suggested(data: Mapping[str, Any]) -> dict[str, Any]:
    """Return form suggestions from entry data or input (never the secret key)."""
    flat = _credentials(data, {})
    suggested: dict[str, Any] = {
        key: flat[key] for key in (CONF_ACCOUNT_ID, CONF_DEVICE_ID) if key in flat
    }
    suggested[SECTION_ADVANCED] = {CONF_API_URL: flat[CONF_API_URL]}
    return suggested


def _options(user_input: Mapping[str, Any]) -> dict[str, Any]:
    options = dict(user_input)
    for key in INTEGER_OPTIONS:
        if key in options:
            options[key] = int(options[key])
    return options


class FlatpeakConfigFlow(ConfigFlow, domain=DOMAIN):
    """Add a Flatpeak device: credentials, then the battery mapping."""

    VERSION = 1

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._data: dict[str, Any] = {}
        self._title = ""

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> FlatpeakOptionsFlow:
        """Return the options flow."""
        return FlatpeakOptionsFlow()

    def _credentials_form(
        self, step_id: str, suggested: Mapping[str, Any], errors: dict[str, str]
    ) -> ConfigFlowResult:
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                CREDENTIALS_SCHEMA, _suggested(suggested)
            ),
            errors=errors,
        )

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the account credentials and the Flatpeak device ID."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _credentials(user_input, {})
            await self.async_set_unique_id(data[CONF_DEVICE_ID])
            self._abort_if_unique_id_configured()
            device, errors = await validate_credentials(
                self.hass, data, CREDENTIALS_SCHEMA.schema
            )
            if device is not None and not errors:
                self._data = data
                self._title = device.title
                return await self.async_step_battery()
        return self._credentials_form("user", user_input or {}, errors)

    async def async_step_battery(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Map the battery's entities to the Flatpeak fields."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = validate_mapping(self.hass, user_input)
            if not errors:
                return self.async_create_entry(
                    title=self._title,
                    data=self._data,
                    options={**BEHAVIOUR_DEFAULTS, **_options(user_input)},
                )
        return self.async_show_form(
            step_id="battery",
            data_schema=self.add_suggested_values_to_schema(
                MAPPING_SCHEMA, user_input or {}
            ),
            errors=errors,
            description_placeholders={"title": self._title},
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Flatpeak refused the credentials: ask for the secret key again."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for a new secret key for the same account and device."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        schema = vol.Schema({vol.Required(CONF_SECRET_KEY): PASSWORD})
        if user_input is not None:
            data = _credentials(user_input, entry.data)
            _, errors = await validate_credentials(self.hass, data, schema.schema)
            if not errors:
                return self.async_update_reload_and_abort(
                    entry, data_updates={CONF_SECRET_KEY: data[CONF_SECRET_KEY]}
                )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=schema,
            errors=errors,
            description_placeholders={
                "account_id": entry.data[CONF_ACCOUNT_ID],
                "title": entry.title,
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the credentials, the device or the API URL."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _credentials(user_input, entry.data)
            device_id = data[CONF_DEVICE_ID]
            changed = device_id != entry.unique_id
            if changed and self.hass.config_entries.async_entry_for_domain_unique_id(
                DOMAIN, device_id
            ):
                errors[CONF_DEVICE_ID] = "already_configured"
            else:
                device, errors = await validate_credentials(
                    self.hass, data, CREDENTIALS_SCHEMA.schema
                )
                if device is not None and not errors:
                    return self.async_update_reload_and_abort(
                        entry,
                        unique_id=device_id,
                        title=device.title if changed else entry.title,
                        data=data,
                    )
        return self._credentials_form(
            "reconfigure", {**entry.data, **(user_input or {})}, errors
        )


class FlatpeakOptionsFlow(OptionsFlowWithReload):
    """Change the battery mapping and the submission behaviour."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the mapping and behaviour; saving reloads the entry."""
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = validate_mapping(self.hass, user_input)
            if not errors:
                return self.async_create_entry(data=_options(user_input))
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                MAPPING_SCHEMA.extend(BEHAVIOUR_SCHEMA.schema),
                user_input or self.config_entry.options,
            ),
            errors=errors,
        )
