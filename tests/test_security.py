"""No secret (secret key, bearer token, Authorization header) reaches a log,
an exception, diagnostics or an entity attribute, on any path."""

import json
import logging
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.flatpeak.const import DOMAIN
from custom_components.flatpeak.diagnostics import async_get_config_entry_diagnostics
from flatpeak_sandbox import FlatpeakSandbox

from .conftest import SOC, advance


async def test_no_secret_anywhere(
    hass: HomeAssistant,
    sandbox: FlatpeakSandbox,
    config_entry: MockConfigEntry,
    battery: None,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    tokens: list[str] = []

    def issue(token: str, lifetime: float) -> dict[str, Any]:
        tokens.append(token)
        return {"bearer_token": token, "expires_in": lifetime}

    sandbox.token_response = issue
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    errors: list[BaseException] = []

    async def submit() -> None:
        try:
            await hass.services.async_call(
                DOMAIN, "submit_device_state", {}, blocking=True
            )
        except HomeAssistantError as err:
            errors.append(err)

    await submit()
    for status in (500, 422, 429, 503):
        sandbox.fail_next(status, endpoint="state", retry_after="1")
        await submit()
        await advance(hass, freezer, 700)
    sandbox.expire_tokens()
    hass.states.async_set(SOC, "12", {"unit_of_measurement": "%"})
    await advance(hass, freezer, 31)
    sandbox.drop_next(2, endpoint="state")
    await submit()
    await advance(hass, freezer, 700)
    sandbox.reject_credentials = True
    sandbox.expire_tokens()
    await submit()
    await hass.services.async_call(
        DOMAIN, "submit_device_state", {"state_of_charge_percent": 1}, blocking=False
    )
    await advance(hass, freezer, 700)
    diagnostics = await async_get_config_entry_diagnostics(hass, config_entry)

    assert tokens
    assert errors
    assert len(sandbox.states()) >= 3
    texts = [caplog.text, json.dumps(diagnostics)]
    texts += [
        f"{err!s} {err!r} {err.__cause__!r} {err.__context__!r}" for err in errors
    ]
    texts += [
        json.dumps(state.as_dict(), default=str)
        for state in hass.states.async_all()
        if state.entity_id.startswith(
            ("sensor.sandbox", "binary_sensor.sandbox", "button.sandbox")
        )
    ]
    for text in texts:
        assert sandbox.secret_key not in text
        assert "Bearer " not in text
        assert "Basic " not in text
        for token in tokens:
            assert token not in text
