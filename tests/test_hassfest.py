"""What Home Assistant's hassfest does not check for a custom integration.

The real validator (hassfest, as its GitHub action runs it) is a step of
scripts/test; these tests add the project's own rules on top of it: en.json is
strings.json resolved, every translation has the same keys and placeholders,
every key the code uses is translated, and the rules of hassfest that bit us
before (translation keys) hold even where the real tool is not installed.
"""

import json
from pathlib import Path
import re
import runpy
from typing import Any

from homeassistant.core import HomeAssistant
import pytest
import yaml

from custom_components.flatpeak.api import EnergyFlowDirection, __version__
from custom_components.flatpeak.const import ErrorCode, PowerSign, SubmissionStatus
from custom_components.flatpeak.delivery.errors import (
    OUTCOMES,
    PRICE_UNAVAILABLE_KEYS,
    Action,
)
from custom_components.flatpeak.mapping.readings import FIELD_UNITS

ROOT = Path(__file__).resolve().parent.parent
INTEGRATION = ROOT / "custom_components" / "flatpeak"
STRINGS: dict[str, Any] = json.loads((INTEGRATION / "strings.json").read_text())
EN: dict[str, Any] = json.loads((INTEGRATION / "translations" / "en.json").read_text())
# hassfest's RE_TRANSLATION_KEY (script/hassfest/translations.py).
TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")
TRANSLATIONS = sorted((INTEGRATION / "translations").glob("*.json"))
SOURCES = {
    path.relative_to(INTEGRATION).as_posix(): path.read_text()
    for path in INTEGRATION.rglob("*.py")
}


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(node, dict):
        out: dict[str, str] = {}
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): node}


def test_manifest() -> None:
    manifest = json.loads((INTEGRATION / "manifest.json").read_text())
    keys = list(manifest)
    assert keys[:2] == ["domain", "name"]
    assert keys[2:] == sorted(keys[2:])
    assert set(keys) == {
        "domain",
        "name",
        "after_dependencies",
        "codeowners",
        "config_flow",
        "documentation",
        "integration_type",
        "iot_class",
        "issue_tracker",
        "requirements",
        "version",
    }
    assert manifest["domain"] == "flatpeak"
    assert manifest["name"] == "Flatpeak"
    assert manifest["config_flow"] is True
    # States are pushed to Flatpeak; what Home Assistant shows of Flatpeak is polled.
    assert manifest["iot_class"] == "cloud_polling"
    assert manifest["requirements"] == []
    # ``loggers`` names the loggers of the requirements: there are none.
    assert "loggers" not in manifest
    # The Energy dashboard's batteries are read once it is set up.
    assert manifest["after_dependencies"] == ["energy"]
    assert manifest["version"] == __version__
    assert all(owner.startswith("@") for owner in manifest["codeowners"])
    assert manifest["documentation"].startswith("https://")
    assert manifest["issue_tracker"].startswith("https://")


def test_hacs_json() -> None:
    hacs = json.loads((ROOT / "hacs.json").read_text())
    assert hacs["name"] == "Flatpeak"
    assert re.fullmatch(r"\d{4}\.\d+\.\d+", hacs["homeassistant"])
    assert set(hacs) <= {
        "name",
        "homeassistant",
        "render_readme",
        "content_in_root",
        "zip_release",
        "filename",
        "hide_default_branch",
        "country",
        "hacs",
        "persistent_directory",
    }


def test_en_json_is_strings_json_resolved() -> None:
    script = runpy.run_path(str(ROOT / "scripts" / "translations.py"))
    en_text = (INTEGRATION / "translations" / "en.json").read_text()
    assert en_text == script["render"](), "run scripts/translations.py"
    assert "[%key" not in en_text


@pytest.mark.parametrize("path", TRANSLATIONS, ids=lambda p: p.name)
def test_translations_have_the_same_keys(path: Path) -> None:
    translation = flatten(json.loads(path.read_text()))
    assert set(translation) == set(flatten(EN))
    en = flatten(EN)
    for key, text in translation.items():
        assert isinstance(text, str)
        assert text.strip(), key
        # Placeholders must survive translation.
        assert set(re.findall(r"\{(\w+)\}", text)) == set(
            re.findall(r"\{(\w+)\}", en[key])
        ), key


def test_translation_keys_are_valid_for_hassfest() -> None:
    """Every key (entities, states, issues, selector options...) is lower-case."""
    for key in flatten(STRINGS):
        for part in key.split("."):
            assert TRANSLATION_KEY.match(part), key


def test_no_urls_in_translations() -> None:
    for path in TRANSLATIONS:
        for key, text in flatten(json.loads(path.read_text())).items():
            assert not re.search(r"https?://\w", text), f"{path.name}: {key}"


def _keys(pattern: str, *files: str) -> set[str]:
    return {key for name in files for key in re.findall(pattern, SOURCES[name])}


def test_entities_and_states_translated() -> None:
    for platform in ("sensor", "binary_sensor", "button", "event"):
        for key in _keys(r'translation_key="(\w+)"', f"{platform}.py"):
            assert "name" in STRINGS["entity"][platform][key], f"{platform}.{key}"
    states = STRINGS["entity"]["sensor"]["submission_status"]["state"]
    assert set(states) == {status.value for status in SubmissionStatus}
    codes = STRINGS["entity"]["sensor"]["last_error"]["state"]
    assert set(codes) == {code.value for code in ErrorCode}
    # The read sensors (sensor.py): their names and the VPP states.
    from custom_components.flatpeak.sensor import PRICES, VPP_STATES

    sensors = STRINGS["entity"]["sensor"]
    for key in _keys(r'translation_key="(\w+)"', "sensor.py") | {
        description.translation_key for description in PRICES.values()
    }:
        assert "name" in sensors[key], key
    assert set(sensors["vpp_participation"]["state"]) == set(VPP_STATES)
    # The delivery events: every type; every reason a rejection or a pause has.
    from custom_components.flatpeak.delivery.events import DeliveryEvent

    delivery = STRINGS["entity"]["event"]["delivery"]["state_attributes"]
    assert set(delivery["event_type"]["state"]) == set(DeliveryEvent)
    assert set(delivery["reason"]["state"]) == {
        outcome[2]
        for outcome in OUTCOMES
        if outcome[1] in (Action.PAUSE, Action.REJECT)
    }


def test_exceptions_and_issues_translated() -> None:
    others = [
        name
        for name in SOURCES
        # Entity descriptions (their translation keys are entities').
        if name
        not in (
            "sensor.py",
            "binary_sensor.py",
            "button.py",
            "event.py",
        )
    ]
    used = _keys(r'translation_key="(\w+)"', *others)
    used |= _keys(
        r'SnapshotError\(\s*SubmissionStatus\.\w+,\s*"(\w+)"',
        "mapping/readings.py",
        "mapping/battery_mapping.py",
        "delivery/scheduler.py",
    )
    used |= _keys(
        r'SubmissionError\(\s*"(\w+)"', "delivery/sender.py", "delivery/errors.py"
    )
    used |= _keys(r'"(submission_queued_\w+)"', "delivery/errors.py")
    used |= _keys(
        r'validation_error\(\s*"(\w+)"', "services.py", "reads/best_window.py"
    )
    # A failed read: read_<its verdict's code>, or why Flatpeak has no price.
    used |= {f"read_{outcome[2]}" for outcome in OUTCOMES}
    used |= set(PRICE_UNAVAILABLE_KEYS.values())
    used |= _keys(r'failure_key = "(\w+)"', "coordinator.py")  # read failures
    # account/issues.py: translation_key=f"no_tariff_connected_{direction.lower()}"
    assert 'f"no_tariff_connected_{direction.lower()}"' in SOURCES["account/issues.py"]
    used |= {"no_tariff_connected_import", "no_tariff_connected_export"}
    used.discard("battery_power_sign")  # a selector, checked below
    assert used
    translated = set(STRINGS["exceptions"]) | set(STRINGS["issues"])
    assert used <= translated
    for key in STRINGS["exceptions"]:
        assert key in used, f"unused exception translation {key}"


def test_flow_errors_translated() -> None:
    from custom_components.flatpeak.flows.validation import ID_ERRORS, LIVE_ERRORS

    credential_errors = {error for _, _, error in LIVE_ERRORS}
    credential_errors |= set(ID_ERRORS.values()) | {"invalid_url", "unknown"}
    credential_errors |= _keys(
        r'return None, \{[^:]+: "(\w+)"\}', "flows/validation.py"
    )
    mapping_errors = {error for _, error in FIELD_UNITS.values()}
    mapping_errors |= {"entity_not_found"}
    mapping_errors |= _keys(r'errors\[[^\]]+\] = "(\w+)"', "flows/validation.py")
    assert {"wrong_api_url", "timeout", "invalid_device_id"} <= credential_errors
    assert {"target_required", "entity_or_value"} <= mapping_errors
    flow_errors = _keys(
        r'\{[A-Z_]+: "(\w+)"\}', "config_flow.py", "flows/device_flow.py"
    )
    assert flow_errors == {
        "account_already_configured",
        "another_account",
        "device_already_configured",
    }
    assert credential_errors | mapping_errors | flow_errors <= set(
        STRINGS["config"]["error"]
    )
    device_errors = set(STRINGS["config_subentries"]["device"]["error"])
    assert mapping_errors | {"device_already_configured"} <= device_errors
    assert credential_errors - {"invalid_account_id", "invalid_url"} <= device_errors
    issues = STRINGS["issues"]
    assert mapping_errors <= set(issues["mapping_broken"]["fix_flow"]["error"])
    assert credential_errors <= set(issues["device_not_found"]["fix_flow"]["error"])
    assert {"reauth_successful", "reconfigure_successful"} <= set(
        STRINGS["config"]["abort"]
    )
    assert set(STRINGS["selector"]["battery_power_sign"]["options"]) == {
        s.value for s in PowerSign
    }


def test_services_yaml_matches_strings() -> None:
    services = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    assert set(services) == set(STRINGS["services"])
    for name, service in services.items():
        assert set(service["fields"]) == set(STRINGS["services"][name]["fields"])
        for field in STRINGS["services"][name]["fields"].values():
            assert field["name"]
            assert field["description"]
    options = services["submit_device_state"]["fields"]["energy_flow_direction"][
        "selector"
    ]["select"]
    assert set(options["options"]) == set(
        STRINGS["selector"][options["translation_key"]]["options"]
    )
    # The action upper-cases the selector's value into the API's value.
    assert {option.upper() for option in options["options"]} == {
        direction.value for direction in EnergyFlowDirection
    }


# hassfest's translation key rule (script/hassfest/translations.py).
TRANSLATION_KEY = re.compile(r"^(?!.+[_-]{2})(?![_-])[a-z0-9-_]+(?<![_-])$")


@pytest.mark.parametrize("path", [INTEGRATION / "strings.json", *TRANSLATIONS])
def test_selector_options_and_states_are_translation_keys(path: Path) -> None:
    strings = json.loads(path.read_text())
    keys = [
        key for selector in strings["selector"].values() for key in selector["options"]
    ]
    keys += [
        key
        for entities in strings["entity"].values()
        for entity in entities.values()
        for key in entity.get("state", {})
    ]
    assert keys
    assert [key for key in keys if not TRANSLATION_KEY.match(key)] == []


def test_icons_cover_every_entity_and_action() -> None:
    icons = json.loads((INTEGRATION / "icons.json").read_text())
    for platform, entities in STRINGS["entity"].items():
        assert set(entities) == set(icons["entity"][platform]), platform
    assert set(icons["services"]) == set(STRINGS["services"])
    status_icons = icons["entity"]["sensor"]["submission_status"]["state"]
    assert set(status_icons) == {status.value for status in SubmissionStatus}


def test_quality_scale_covers_every_rule() -> None:
    """Every rule of Home Assistant's Integration Quality Scale is done or exempt.

    The rule list is read from the installed Home Assistant (every core
    integration's quality_scale.yaml), so a new rule fails this test.
    """
    from homeassistant import components

    known: set[str] = set()
    for path in Path(components.__path__[0]).glob("*/quality_scale.yaml"):
        known |= set((yaml.safe_load(path.read_text()) or {}).get("rules", {}))
    ours = yaml.safe_load((INTEGRATION / "quality_scale.yaml").read_text())["rules"]
    assert len(known) >= 50
    # Older Home Assistant releases know fewer rules; none may be missing.
    assert known <= set(ours), f"missing: {known - set(ours)}"
    for rule, value in ours.items():
        if isinstance(value, dict):
            assert value["status"] in ("done", "exempt", "todo"), rule
            if value["status"] == "exempt":
                assert value.get("comment"), f"{rule} is exempt without a reason"
        else:
            assert value == "done", rule


def _labels(step: dict[str, Any], schema: Any) -> None:
    """Every field of ``schema`` has a label (sections: a name and labels)."""
    for key, value in schema.schema.items():
        name = str(key)
        if hasattr(value, "options") and hasattr(value, "schema"):  # a section
            section = step["sections"][name]
            assert section["name"], name
            _labels(section, value.schema)
        else:
            assert step["data"][name], name
            assert name in step.get("data_description", {}), name


async def test_every_form_field_is_labelled(hass: HomeAssistant) -> None:
    from custom_components.flatpeak.flows.schemas import (
        CREDENTIALS_SCHEMA,
        DEVICE_ID_SCHEMA,
        REAUTH_SCHEMA,
        RECONFIGURE_SCHEMA,
        SETTINGS_SCHEMA,
    )
    from custom_components.flatpeak.mapping.batteries import Battery
    from custom_components.flatpeak.mapping.forms import (
        DEVICE_SCHEMA,
        energy_schema,
        entities_schema,
    )

    # The largest forms: four batteries (and the "add another battery" switch
    # of a smaller form); the dashboard form with the estimate.
    entities = (
        entities_schema(3)
        .extend(entities_schema(4).schema)
        .extend(entities_schema(1, estimate=True).schema)
    )
    energy = energy_schema(
        hass,
        [Battery(soc_entity="sensor.soc", capacity_kwh=10)],
        [],
    )
    steps = STRINGS["config"]["step"]
    _labels(steps["user"], CREDENTIALS_SCHEMA)
    _labels(steps["reconfigure"], RECONFIGURE_SCHEMA)
    _labels(steps["reauth_confirm"], REAUTH_SCHEMA)
    _labels(steps["device"], DEVICE_ID_SCHEMA)
    device = STRINGS["config_subentries"]["device"]["step"]
    _labels(device["user"], DEVICE_ID_SCHEMA)
    _labels(device["settings"], SETTINGS_SCHEMA)
    assert set(device["reconfigure"]["menu_options"]) == {"battery_source", "settings"}
    fix_flows = {
        name: issue["fix_flow"]
        for name, issue in STRINGS["issues"].items()
        if "fix_flow" in issue
    }
    for flow_steps in (steps, device, fix_flows["mapping_broken"]["step"]):
        _labels(flow_steps["battery"], entities)
        _labels(flow_steps["battery_energy"], energy)
        _labels(flow_steps["battery_device"], DEVICE_SCHEMA)
        assert set(flow_steps["battery_source"]["menu_options"]) == {
            "battery_energy",
            "battery_device",
            "battery",
        }
    assert fix_flows["device_not_found"]["step"]["check"]["description"]


def test_every_flow_issue_entity_and_selector_string_is_used() -> None:
    """A key of strings.json no code names is dead text (a reviewer flags it).

    Checked by name: the key appears quoted in the package's code or YAML.
    Issues named with an f-string are listed by what the f-string gives.
    """
    code = "\n".join(
        path.read_text()
        for pattern in ("**/*.py", "*.yaml")
        for path in INTEGRATION.glob(pattern)
    )
    device = STRINGS["config_subentries"]["device"]
    sections = {
        "config.error": STRINGS["config"]["error"],
        "config.abort": STRINGS["config"]["abort"],
        "config.step": STRINGS["config"]["step"],
        "config_subentries.device.error": device.get("error", {}),
        "config_subentries.device.abort": device.get("abort", {}),
        "config_subentries.device.step": device.get("step", {}),
        "options.step": STRINGS["options"]["step"],
        "issues": STRINGS["issues"],
        "selector": STRINGS["selector"],
        "services": STRINGS["services"],
        **{f"entity.{name}": keys for name, keys in STRINGS["entity"].items()},
    }
    by_f_string = {"no_tariff_connected_import", "no_tariff_connected_export"}
    unused = [
        f"{section}.{key}"
        for section, keys in sections.items()
        for key in keys
        if key not in by_f_string and not re.search(rf"[\"']{key}[\"']", code)
    ]
    assert unused == []
