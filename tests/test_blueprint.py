"""The blueprint loads through Home Assistant's schema and submits on a change."""

from __future__ import annotations

from datetime import UTC, datetime
import json
from pathlib import Path
import shutil
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.automation.config import async_validate_config_item
from homeassistant.components.blueprint.models import Blueprint, BlueprintInputs
from homeassistant.components.blueprint.schemas import BLUEPRINT_SCHEMA
from homeassistant.config_entries import ConfigSubentry
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import load_yaml_dict
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from flatpeak_sandbox import FlatpeakSandbox

from .conftest import (
    BEHAVIOUR,
    MAPPING,
    advance,
    device_entry,
    device_subentry_data,
    forget_received,
    set_soc,
)

ROOT = Path(__file__).resolve().parent.parent
BLUEPRINT = ROOT / "blueprints" / "automation" / "flatpeak" / "submit_on_change.yaml"
PRICE = "sensor.electricity_import_price"
ALLOWED = "input_boolean.flatpeak_allowed"
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def load() -> Blueprint:
    return Blueprint(
        dict(load_yaml_dict(BLUEPRINT)),
        path=str(BLUEPRINT),
        expected_domain="automation",
        schema=BLUEPRINT_SCHEMA,
    )


def use_blueprint(entry_id: str, **inputs: Any) -> dict[str, Any]:
    return {
        "use_blueprint": {
            "path": "flatpeak/submit_on_change.yaml",
            "input": {"trigger_entity": PRICE, "config_entry": entry_id, **inputs},
        }
    }


def test_the_blueprint_loads_through_home_assistants_schema() -> None:
    blueprint = load()
    assert blueprint.domain == "automation"
    assert blueprint.validate() is None  # this Home Assistant meets min_version
    assert set(blueprint.inputs) == {
        "trigger_entity",
        "condition",
        "config_entry",
        "device",
    }
    assert blueprint.inputs["config_entry"]["selector"] == {
        "config_entry": {"integration": "flatpeak"}
    }
    assert blueprint.inputs["device"]["selector"]["device"]["filter"] == [
        {"integration": "flatpeak"}
    ]
    assert blueprint.inputs["device"]["default"] == ""
    assert blueprint.inputs["condition"]["default"] == []
    assert "default" not in blueprint.inputs["trigger_entity"]


def test_the_source_url_and_the_readme_link_name_the_manifest_repository() -> None:
    manifest = json.loads(
        (ROOT / "custom_components/flatpeak/manifest.json").read_text()
    )
    repository = manifest["documentation"].removeprefix("https://github.com/")
    path = "blueprints/automation/flatpeak/submit_on_change.yaml"
    assert load().metadata["source_url"] == (
        f"https://github.com/{repository}/blob/main/{path}"
    )
    raw = f"https://raw.githubusercontent.com/{repository}/main/{path}"
    link = (
        "https://my.home-assistant.io/redirect/blueprint_import/"
        f"?blueprint_url={raw.replace(':', '%3A').replace('/', '%2F')}"
    )
    assert link in (ROOT / "README.md").read_text()


async def test_the_blueprint_instantiates_with_inputs(hass: HomeAssistant) -> None:
    inputs = BlueprintInputs(load(), use_blueprint("entry1"))
    inputs.validate()
    automation = inputs.async_substitute()
    assert automation["triggers"] == [
        {
            "trigger": "state",
            "entity_id": PRICE,
            "not_to": ["unknown", "unavailable"],
        }
    ]
    assert automation["conditions"] == []
    assert automation["actions"] == [
        {
            "action": "flatpeak.submit_device_state",
            "data": {"config_entry_id": "entry1", "device": ""},
        }
    ]
    # Valid for the automation integration as it is.
    validated = await async_validate_config_item(hass, "automation", automation)
    assert validated is not None


@pytest.fixture
async def blueprint_home(hass: HomeAssistant, tmp_path: Path) -> None:
    """Give hass a config directory that holds the blueprint, as an import does."""
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / "flatpeak"
    target.mkdir(parents=True)
    shutil.copy(BLUEPRINT, target / BLUEPRINT.name)
    assert await async_setup_component(
        hass, "input_boolean", {"input_boolean": {"flatpeak_allowed": None}}
    )


async def change_price(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, price: str, **attrs: Any
) -> None:
    # A new moment for each change: a record's reference derives from its time.
    await advance(hass, freezer, 60)
    hass.states.async_set(PRICE, price, {"unit_of_measurement": "EUR/kWh", **attrs})
    await advance(hass, freezer, 1)


async def test_a_change_of_the_chosen_entity_submits(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    blueprint_home: None,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    freezer.move_to(NOW)
    hass.states.async_set(PRICE, "0.30", {"unit_of_measurement": "EUR/kWh"})
    assert await async_setup_component(
        hass,
        "automation",
        {"automation": use_blueprint(init_integration.entry_id)},
    )
    await change_price(hass, freezer, "0.25")
    assert [b["state_of_charge_percent"] for b in sandbox.states()] == [55]

    set_soc(hass, 57)  # unthrottled: an on-change submission of its own
    await change_price(hass, freezer, "0.21")
    assert [b["state_of_charge_percent"] for b in sandbox.states()][-1] == 57
    count = len(sandbox.states())
    # Attributes only, or a change to unavailable: nothing to submit.
    await change_price(hass, freezer, "0.21", friendly_name="Import price")
    await change_price(hass, freezer, "unavailable")
    assert len(sandbox.states()) == count
    await change_price(hass, freezer, "0.19")
    assert len(sandbox.states()) == count + 1


async def test_the_optional_condition_holds_submissions_back(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    blueprint_home: None,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    freezer.move_to(NOW)
    hass.states.async_set(PRICE, "0.30", {"unit_of_measurement": "EUR/kWh"})
    condition = [{"condition": "state", "entity_id": ALLOWED, "state": "on"}]
    assert await async_setup_component(
        hass,
        "automation",
        {"automation": use_blueprint(init_integration.entry_id, condition=condition)},
    )
    await change_price(hass, freezer, "0.25")
    assert sandbox.states() == []
    await hass.services.async_call(
        "input_boolean", "turn_on", {"entity_id": ALLOWED}, blocking=True
    )
    await change_price(hass, freezer, "0.20")
    assert len(sandbox.states()) == 1


async def test_the_chosen_device_of_an_account_submits(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    blueprint_home: None,
    init_integration: MockConfigEntry,
    sandbox: FlatpeakSandbox,
) -> None:
    """With two devices in the account, the blueprint submits for the one chosen."""
    freezer.move_to(NOW)
    sandbox.add_device("dev_demo2")
    hass.config_entries.async_add_subentry(
        init_integration,
        ConfigSubentry(
            **device_subentry_data(
                "dev_demo2",
                {**MAPPING, **BEHAVIOUR},
                subentry_id="01JDEVICESUBENTRY0000000002",
                title="Loft battery",
            )
        ),
    )
    await advance(hass, freezer, 1)
    forget_received(sandbox)
    hass.states.async_set(PRICE, "0.30", {"unit_of_measurement": "EUR/kWh"})
    device = device_entry(hass, init_integration, "dev_demo2")
    assert await async_setup_component(
        hass,
        "automation",
        {"automation": use_blueprint(init_integration.entry_id, device=device.id)},
    )
    await change_price(hass, freezer, "0.25")
    assert len(sandbox.states("dev_demo2")) == 1
    assert sandbox.states() == []  # not the account's other device
