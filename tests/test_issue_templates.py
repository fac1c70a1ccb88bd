"""The issue forms are valid GitHub issue forms and ask what a bug report needs."""

from __future__ import annotations

import json
from pathlib import Path
import re
from typing import Any

import pytest
import yaml

from custom_components.flatpeak.const import LOGGER

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / ".github" / "ISSUE_TEMPLATE"
FORMS = ["bug_report.yml", "feature_request.yml"]
# GitHub's syntax for issue forms: the keys of a form, and of each kind of field.
FORM_KEYS = {"name", "description", "body", "title", "labels", "assignees", "projects"}
ATTRIBUTES = {
    "markdown": {"value"},
    "input": {"label", "description", "placeholder", "value"},
    "textarea": {"label", "description", "placeholder", "value", "render"},
    "dropdown": {"label", "description", "multiple", "options", "default"},
    "checkboxes": {"label", "description", "options"},
}
FIELD_ID = re.compile(r"^[A-Za-z0-9_-]+$")


def form(name: str) -> dict[str, Any]:
    data = yaml.safe_load((TEMPLATES / name).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def fields(name: str) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in form(name)["body"] if "id" in item}


def test_the_template_folder_holds_the_two_forms_and_their_config() -> None:
    assert sorted(p.name for p in TEMPLATES.iterdir()) == [
        "bug_report.yml",
        "config.yml",
        "feature_request.yml",
    ]


@pytest.mark.parametrize("name", FORMS)
def test_a_form_follows_github_s_issue_form_syntax(name: str) -> None:
    data = form(name)
    assert set(data) <= FORM_KEYS
    assert isinstance(data["name"], str)
    assert data["name"]
    assert isinstance(data["description"], str)
    assert data["description"]
    assert all(isinstance(label, str) for label in data.get("labels", []))
    ids: list[str] = []
    for item in data["body"]:
        kind = item["type"]
        assert set(item) <= {"type", "id", "attributes", "validations"}, item
        assert set(item["attributes"]) <= ATTRIBUTES[kind], item
        if kind == "markdown":
            assert item["attributes"]["value"].strip()
            assert "validations" not in item
            continue
        assert item["attributes"]["label"].strip(), item
        assert FIELD_ID.match(item["id"]), item
        ids.append(item["id"])
        assert set(item.get("validations", {})) <= {"required"}, item
        if kind == "dropdown":
            options = item["attributes"]["options"]
            assert options
            assert len(set(options)) == len(options)
    assert ids
    assert len(set(ids)) == len(ids)


def test_the_bug_report_asks_for_versions_steps_and_diagnostics() -> None:
    found = fields("bug_report.yml")
    for field_id in (
        "home_assistant_version",
        "integration_version",
        "what_happened",
        "steps",
        "diagnostics",
    ):
        assert found[field_id]["validations"] == {"required": True}, field_id
    assert "Download diagnostics" in found["diagnostics"]["attributes"]["description"]
    assert form("bug_report.yml")["labels"] == ["bug"]
    assert form("feature_request.yml")["labels"] == ["enhancement"]


def test_the_bug_report_asks_for_debug_logs_of_the_integration_s_logger() -> None:
    logs = fields("bug_report.yml")["logs"]
    assert logs["attributes"]["render"] == "text"
    description = logs["attributes"]["description"]
    snippet = re.search(r"```yaml\n(.*?)```", description, re.DOTALL)
    assert snippet is not None
    logger_name = LOGGER.name  # the package's logger: its modules log under it
    assert logger_name == "custom_components.flatpeak"
    assert yaml.safe_load(snippet[1]) == {"logger": {"logs": {logger_name: "debug"}}}
    assert "Enable debug logging" in description


def test_blank_issues_are_off_and_troubleshooting_is_linked() -> None:
    config = yaml.safe_load((TEMPLATES / "config.yml").read_text(encoding="utf-8"))
    assert config["blank_issues_enabled"] is False
    [link] = config["contact_links"]
    assert set(link) == {"name", "url", "about"}
    manifest = json.loads(
        (ROOT / "custom_components/flatpeak/manifest.json").read_text()
    )
    page, anchor = link["url"].split("#")
    assert page == manifest["documentation"]
    assert f"\n## {anchor.capitalize()}\n" in (ROOT / "README.md").read_text()
