"""The account's options: whether it reads prices and programme from Flatpeak."""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigFlowResult, OptionsFlow
import voluptuous as vol

from ..const import CONF_READ_FROM_FLATPEAK, DEFAULT_READ_FROM_FLATPEAK

OPTIONS_SCHEMA = vol.Schema(
    {vol.Required(CONF_READ_FROM_FLATPEAK, default=DEFAULT_READ_FROM_FLATPEAK): bool}
)


class FlatpeakOptionsFlow(OptionsFlow):
    """Read prices and programme from Flatpeak (on by default).

    Saving reloads the account through its update listener (which also
    follows its devices), so not ``OptionsFlowWithReload``: that one refuses
    an entry with an update listener.
    """

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the option; save it."""
        if user_input is not None:
            return self.async_create_entry(data=user_input)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                OPTIONS_SCHEMA, self.config_entry.options
            ),
            description_placeholders={"title": self.config_entry.title},
        )
