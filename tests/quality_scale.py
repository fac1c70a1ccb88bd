"""Home Assistant's integration quality scale: its rules, and what a quality_scale.yaml says.

The rule list is data copied from Home Assistant core: ``ALL_RULES`` in
``script/hassfest/quality_scale.py`` of home-assistant/core (Apache-2.0), read at
commit 008538e822535b1d6155c91f6642127afa184ed1. It has the same 54 rules, with the
same tiers, as the copy of core's hassfest that our hassfest check runs against Home
Assistant 2026.10.4 (shared/tools/hassfest-core); test_quality_scale.py compares the
two whenever that copy is there. Neither the ``homeassistant`` wheel nor
pytest-homeassistant-custom-component ships the list.

``python -m tests.quality_scale`` prints the tier the integration's file supports.
"""

from __future__ import annotations

import ast
from pathlib import Path
import sys
from typing import Any

import yaml

QUALITY_SCALE = (
    Path(__file__).resolve().parent.parent
    / "custom_components"
    / "flatpeak"
    / "quality_scale.yaml"
)
TIERS = ("bronze", "silver", "gold", "platinum")
STATUSES = ("done", "todo", "exempt")
# A status that is not "done" says why.
NEEDS_COMMENT = ("todo", "exempt")

RULES: dict[str, str] = {
    # Bronze
    "action-setup": "bronze",
    "appropriate-polling": "bronze",
    "brands": "bronze",
    "common-modules": "bronze",
    "config-flow": "bronze",
    "config-flow-test-coverage": "bronze",
    "dependency-transparency": "bronze",
    "docs-actions": "bronze",
    "docs-conditions": "bronze",
    "docs-high-level-description": "bronze",
    "docs-installation-instructions": "bronze",
    "docs-removal-instructions": "bronze",
    "docs-triggers": "bronze",
    "entity-event-setup": "bronze",
    "entity-unique-id": "bronze",
    "has-entity-name": "bronze",
    "runtime-data": "bronze",
    "test-before-configure": "bronze",
    "test-before-setup": "bronze",
    "unique-config-entry": "bronze",
    # Silver
    "action-exceptions": "silver",
    "config-entry-unloading": "silver",
    "docs-configuration-parameters": "silver",
    "docs-installation-parameters": "silver",
    "entity-unavailable": "silver",
    "integration-owner": "silver",
    "log-when-unavailable": "silver",
    "parallel-updates": "silver",
    "reauthentication-flow": "silver",
    "test-coverage": "silver",
    # Gold
    "devices": "gold",
    "diagnostics": "gold",
    "discovery": "gold",
    "discovery-update-info": "gold",
    "docs-data-update": "gold",
    "docs-examples": "gold",
    "docs-known-limitations": "gold",
    "docs-supported-devices": "gold",
    "docs-supported-functions": "gold",
    "docs-troubleshooting": "gold",
    "docs-use-cases": "gold",
    "dynamic-devices": "gold",
    "entity-category": "gold",
    "entity-device-class": "gold",
    "entity-disabled-by-default": "gold",
    "entity-translations": "gold",
    "exception-translations": "gold",
    "icon-translations": "gold",
    "reconfiguration-flow": "gold",
    "repair-issues": "gold",
    "stale-devices": "gold",
    # Platinum
    "async-dependency": "platinum",
    "inject-websession": "platinum",
    "strict-typing": "platinum",
}


def load(path: Path = QUALITY_SCALE) -> dict[str, Any]:
    """Read a quality_scale.yaml."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise TypeError(f"{path.name} is not a mapping")
    return data


def status_of(value: Any) -> tuple[Any, Any]:
    """Return a rule's (status, comment): ``done`` or ``{status:, comment:}``."""
    if isinstance(value, dict):
        return value.get("status"), value.get("comment")
    return value, None


def problems(data: dict[str, Any]) -> list[str]:
    """Everything that keeps ``data`` from being an honest, complete file."""
    found: list[str] = []
    if set(data) != {"rules"}:
        found.append(f"top-level keys {sorted(data)}, expected only 'rules'")
    rules = data.get("rules")
    if not isinstance(rules, dict):
        return [*found, "'rules' is not a mapping"]
    found.extend(
        f"{name}: missing (core lists it, tier {RULES[name]})"
        for name in RULES
        if name not in rules
    )
    for name, value in rules.items():
        if name not in RULES:
            found.append(f"{name}: not a rule of core's quality scale")
            continue
        if isinstance(value, dict) and not set(value) <= {"status", "comment"}:
            found.append(
                f"{name}: unknown keys {sorted(set(value) - {'status', 'comment'})}"
            )
        status, comment = status_of(value)
        if status not in STATUSES:
            found.append(
                f"{name}: status {status!r} is not one of {', '.join(STATUSES)}"
            )
        elif status in NEEDS_COMMENT and not (
            isinstance(comment, str) and comment.strip()
        ):
            found.append(f"{name}: {status} without a comment saying why")
        elif comment is not None and not isinstance(comment, str):
            found.append(f"{name}: the comment is not text")
    return found


def supported_tier(data: dict[str, Any]) -> str | None:
    """Return the highest tier whose rules, and every lower tier's, are done or exempt.

    None when a Bronze rule is still to do (or missing).
    """
    rules = data.get("rules") or {}
    met = {
        name
        for name, value in rules.items()
        if status_of(value)[0] in ("done", "exempt")
    }
    supported: str | None = None
    for tier in TIERS:
        if any(
            name not in met
            for name, rule_tier in RULES.items()
            if TIERS.index(rule_tier) <= TIERS.index(tier)
        ):
            break
        supported = tier
    return supported


def rules_in_core_source(source: str) -> dict[str, str]:
    """Read ``ALL_RULES`` of core's script/hassfest/quality_scale.py, without importing it."""
    found: dict[str, str] = {}
    for node in ast.walk(ast.parse(source)):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "Rule"
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[1], ast.Attribute)
        ):
            found[str(node.args[0].value)] = node.args[1].attr.lower()
    return found


def main() -> int:
    """Print the tier the integration's quality_scale.yaml supports, or its problems."""
    data = load()
    if found := problems(data):
        print("\n".join(found), file=sys.stderr)
        return 1
    tier = supported_tier(data)
    print(tier.capitalize() if tier else "no tier (a Bronze rule is still to do)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
