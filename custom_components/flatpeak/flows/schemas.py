"""The forms of the account, device and repair flows (schemas and selectors only)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.components.sensor import SensorDeviceClass
from homeassistant.const import CONF_DEVICE_ID, PERCENTAGE
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

from ..api import DEFAULT_BASE_URL
from ..const import (
    CONF_ACCOUNT_ID,
    CONF_API_URL,
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
    PowerSign,
)

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

# Home Assistant's frontend shows a section's errors above the section (keyed by
# the section's name), never on the fields inside it: the flows key the errors
# of a field in a section by the section, and open the section.
SECTION_ADVANCED = "advanced_options"
SECTION_OUTBOX = "outbox"


def credentials_schema(*, secret_required: bool, advanced_open: bool) -> vol.Schema:
    """Return the account's credentials form.

    Reconfigure keeps the stored secret key when the field is left empty
    (``secret_required=False``). Advanced mode is deprecated in Home Assistant:
    a section, collapsed unless its field has an error, holds the API URL.
    """
    secret = vol.Required if secret_required else vol.Optional
    return vol.Schema(
        {
            vol.Required(CONF_ACCOUNT_ID): TEXT,
            secret(CONF_SECRET_KEY): PASSWORD,
            vol.Required(SECTION_ADVANCED): section(
                vol.Schema(
                    {vol.Required(CONF_API_URL, default=DEFAULT_BASE_URL): URL_SELECTOR}
                ),
                {"collapsed": not advanced_open},
            ),
        }
    )


CREDENTIALS_SCHEMA = credentials_schema(secret_required=True, advanced_open=False)
RECONFIGURE_SCHEMA = credentials_schema(secret_required=False, advanced_open=False)
REAUTH_SCHEMA = vol.Schema({vol.Optional(CONF_SECRET_KEY): PASSWORD})
DEVICE_ID_SCHEMA = vol.Schema({vol.Required(CONF_DEVICE_ID): TEXT})
# Shown, not edited: a device's records and history belong to its ID.
READ_ONLY_DEVICE_ID = TextSelector(TextSelectorConfig(read_only=True))

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


SUBMISSION_SCHEMA = vol.Schema(
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
    }
)
OUTBOX_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_OUTBOX_MAX_AGE, default=DEFAULT_OUTBOX_MAX_AGE): _number(
            1, 168, "h"
        ),
        vol.Required(
            CONF_OUTBOX_MAX_RECORDS, default=DEFAULT_OUTBOX_MAX_RECORDS
        ): _number(100, 100_000, "records", 100),
    }
)
BEHAVIOUR_DEFAULTS: dict[str, Any] = {
    CONF_SUBMIT_ON_CHANGE: DEFAULT_SUBMIT_ON_CHANGE,
    CONF_MIN_INTERVAL: DEFAULT_MIN_INTERVAL,
    CONF_HEARTBEAT_INTERVAL: DEFAULT_HEARTBEAT_INTERVAL,
    CONF_OUTBOX_MAX_AGE: DEFAULT_OUTBOX_MAX_AGE,
    CONF_OUTBOX_MAX_RECORDS: DEFAULT_OUTBOX_MAX_RECORDS,
}
INTEGER_OPTIONS = (
    CONF_MIN_INTERVAL,
    CONF_HEARTBEAT_INTERVAL,
    CONF_OUTBOX_MAX_AGE,
    CONF_OUTBOX_MAX_RECORDS,
)
# A device's submission settings, without its mapping: the device ID (shown,
# read-only), when states are submitted, and the outbox bounds (collapsed).
SETTINGS_SCHEMA = (
    vol.Schema({vol.Optional(CONF_DEVICE_ID): READ_ONLY_DEVICE_ID})
    .extend(SUBMISSION_SCHEMA.schema)
    .extend({vol.Required(SECTION_OUTBOX): section(OUTBOX_SCHEMA, {"collapsed": True})})
)


def settings_form_values(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return a device's stored (flat) settings as the settings form's values."""
    values = {
        k: v
        for k, v in options.items()
        if k in SUBMISSION_SCHEMA.schema or k == CONF_DEVICE_ID
    }
    values[SECTION_OUTBOX] = {
        k: v for k, v in options.items() if k in OUTBOX_SCHEMA.schema
    }
    return values


def settings_from_form(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the settings form's input flat, as the subentry stores it.

    The read-only device ID is not taken from the form.
    """
    settings = {k: v for k, v in user_input.items() if k in SUBMISSION_SCHEMA.schema}
    settings.update(user_input.get(SECTION_OUTBOX, {}))
    for key in INTEGER_OPTIONS:
        if key in settings:
            settings[key] = int(settings[key])
    return settings
