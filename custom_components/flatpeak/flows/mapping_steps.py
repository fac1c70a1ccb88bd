"""The battery steps the config, options and repair flows share.

The battery step starts with where the mapping comes from: the Energy
dashboard (offered when it has a battery with a state of charge), a battery
device (offered when a device has a battery sensor in %), or entities (today's
form). When only entities are possible, the entities form opens directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from homeassistant.data_entry_flow import FlowHandler

from ..const import CONF_POWER_SIGN, CONF_SOC_ENTITY
from ..mapping.batteries import (
    CONF_ESTIMATE_ENERGY,
    CONF_MAPPING_SOURCE,
    MAX_BATTERIES,
    MappingSource,
    batteries_from_options,
    battery_count,
    battery_key,
)
from ..mapping.forms import (
    CONF_ADD_BATTERY,
    CONF_BATTERY_DEVICES,
    CONF_ENERGY_BATTERIES,
    DEVICE_SCHEMA,
    SHARED_FIELDS,
    SOURCE_STEPS,
    battery_errors,
    capacities_text,
    compact_batteries,
    energy_options,
    energy_schema,
    entities_schema,
    is_mapping_key,
)
from ..mapping.sources import (
    async_available_sources,
    async_energy_batteries,
    device_prefill,
)
from .validation import validate_mapping

# What a device pick keeps of a stored mapping: the shared values.
KEPT_FOR_DEVICES = (*SHARED_FIELDS, CONF_POWER_SIGN)


class BatteryMappingSteps(FlowHandler[Any, Any, Any]):
    """Steps ``battery_source``, ``battery_energy``, ``battery_device``, ``battery``.

    A mixin of real flows (the account's config flow, the device subentry flow,
    the mapping repair): listed before the flow's own class, whose context and
    result types it takes.

    A flow using them says what the mapping starts from (``mapping_defaults``),
    how its forms name the device (``mapping_placeholders``) and what saving
    means (``async_save_mapping``).
    """

    _battery_count = 1
    _source = MappingSource.ENTITIES
    _prefill: dict[str, Any] | None = None

    # --- what a flow provides -------------------------------------------------

    def mapping_defaults(self) -> Mapping[str, Any]:
        """Return the stored options the forms start from (none when adding)."""
        return {}

    def mapping_placeholders(self) -> dict[str, str]:
        """Return the placeholders of the battery forms' descriptions."""
        return {}

    async def async_save_mapping(self, options: dict[str, Any]) -> Any:
        """Save the mapping and end the flow."""
        raise NotImplementedError

    # --- the steps ------------------------------------------------------------

    async def async_step_battery_source(
        self, user_input: dict[str, Any] | None = None
    ) -> Any:
        """Ask where the mapping comes from, when there is a choice."""
        sources = await async_available_sources(self.hass)
        if len(sources) == 1:
            return await self.async_step_battery()
        return self.async_show_menu(
            step_id="battery_source",
            menu_options=[SOURCE_STEPS[source] for source in sources],
            description_placeholders=self.mapping_placeholders(),
        )

    async def async_step_battery_energy(
        self, user_input: dict[str, Any] | None = None
    ) -> Any:
        """Take the Energy dashboard's batteries; ask for the target and reserve."""
        batteries = await async_energy_batteries(self.hass)
        errors: dict[str, str] = {}
        if user_input is not None:
            options = dict(user_input)
            mapping = energy_options(batteries, user_input)
            count = battery_count(mapping) if CONF_SOC_ENTITY in mapping else 0
            if not count:
                errors = {CONF_ENERGY_BATTERIES: "no_battery_chosen"}
            elif count > MAX_BATTERIES:
                errors = {CONF_ENERGY_BATTERIES: "too_many_batteries"}
            else:
                found = validate_mapping(self.hass, mapping)
                errors = {
                    key if key in SHARED_FIELDS else CONF_ENERGY_BATTERIES: error
                    for key, error in found.items()
                }
            if not errors:
                kept = {k: v for k, v in options.items() if k not in mapping}
                kept.pop(CONF_ENERGY_BATTERIES, None)
                return await self.async_save_mapping({**kept, **mapping})
        saved = self.mapping_defaults()
        stored = {
            k: v
            for k, v in saved.items()
            if not is_mapping_key(k) or k in SHARED_FIELDS
        }
        chosen = [b.soc_entity for b in batteries]
        if saved.get(CONF_MAPPING_SOURCE) == MappingSource.ENERGY_DASHBOARD:
            # Reopened: show the batteries and the estimate chosen before.
            mapped = {b.soc_entity for b in batteries_from_options(saved)}
            chosen = [entity for entity in chosen if entity in mapped] or chosen
            stored[CONF_ESTIMATE_ENERGY] = bool(saved.get(CONF_ESTIMATE_ENERGY))
        schema = energy_schema(self.hass, batteries, chosen)
        return self.async_show_form(
            step_id="battery_energy",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or stored
            ),
            errors=errors,
            description_placeholders={
                **self.mapping_placeholders(),
                "capacities": capacities_text(self.hass, batteries),
            },
        )

    async def async_step_battery_device(
        self, user_input: dict[str, Any] | None = None
    ) -> Any:
        """Pick the battery devices; the entities form opens pre-filled from them."""
        errors: dict[str, str] = {}
        if user_input is not None:
            devices: list[str] = list(user_input.get(CONF_BATTERY_DEVICES) or [])
            if not devices:
                errors = {CONF_BATTERY_DEVICES: "no_battery_chosen"}
            elif len(devices) > MAX_BATTERIES:
                errors = {CONF_BATTERY_DEVICES: "too_many_batteries"}
            else:
                prefill = {
                    k: v
                    for k, v in self.mapping_defaults().items()
                    if not is_mapping_key(k) or k in KEPT_FOR_DEVICES
                }
                for index, device_id in enumerate(devices):
                    for field, entity_id in device_prefill(
                        self.hass, device_id
                    ).items():
                        prefill[battery_key(field, index)] = entity_id
                self._battery_count = len(devices)
                self._source = MappingSource.DEVICE
                self._prefill = prefill
                return await self.async_step_battery()
        return self.async_show_form(
            step_id="battery_device",
            data_schema=DEVICE_SCHEMA,
            errors=errors,
            description_placeholders=self.mapping_placeholders(),
        )

    async def async_step_battery(self, user_input: dict[str, Any] | None = None) -> Any:
        """Map the batteries' entities (pre-filled from a device, or as stored)."""
        if self._prefill is None:
            stored = self.mapping_defaults()
            self._prefill = dict(stored)
            self._battery_count = battery_count(stored)
        count = self._battery_count
        estimate = bool(self._prefill.get(CONF_ESTIMATE_ENERGY))
        errors: dict[str, str] = {}
        if user_input is not None:
            options = dict(user_input)
            errors = battery_errors(options, count) or validate_mapping(
                self.hass, options
            )
            if not errors and options.get(CONF_ADD_BATTERY):
                options[CONF_ADD_BATTERY] = False
                self._battery_count = count = count + 1
                self._prefill = options
                user_input = None
            elif not errors:
                options = compact_batteries(options, count)
                options[CONF_MAPPING_SOURCE] = self._source.value
                return await self.async_save_mapping(options)
        return self.async_show_form(
            step_id="battery",
            data_schema=self.add_suggested_values_to_schema(
                entities_schema(count, estimate=estimate),
                user_input or self._prefill,
            ),
            errors=errors,
            description_placeholders=self.mapping_placeholders(),
        )
