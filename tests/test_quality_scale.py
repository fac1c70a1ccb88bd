"""quality_scale.yaml names every rule of core's quality scale, with an honest status."""

from __future__ import annotations

from pathlib import Path
import re
from typing import Any

import pytest

from tests import quality_scale
from tests.quality_scale import RULES, TIERS, problems, supported_tier

ROOT = Path(__file__).resolve().parent.parent


def find_core_quality_scale() -> Path | None:
    """Core's script/hassfest/quality_scale.py beside our hassfest wrapper, if any."""
    for parent in ROOT.parents:
        path = parent / "shared/tools/hassfest-core/script/hassfest/quality_scale.py"
        if path.is_file():
            return path
    return None


def all_done() -> dict[str, Any]:
    return {"rules": dict.fromkeys(RULES, "done")}


def test_the_rule_list_is_core_s_54_rules() -> None:
    assert len(RULES) == 54
    counts = {tier: list(RULES.values()).count(tier) for tier in TIERS}
    assert counts == {"bronze": 20, "silver": 10, "gold": 21, "platinum": 3}


def test_the_rule_list_matches_the_core_copy_hassfest_runs() -> None:
    path = find_core_quality_scale()
    if path is None:
        pytest.skip("no shared/tools/hassfest-core beside the repository")
    assert quality_scale.rules_in_core_source(path.read_text()) == RULES


def test_the_integration_file_names_every_rule_with_a_known_status() -> None:
    assert problems(quality_scale.load()) == []


def test_the_tier_the_file_supports_is_computed() -> None:
    tier = supported_tier(quality_scale.load())
    assert tier is None or tier in TIERS
    assert quality_scale.main() == 0


def test_the_readme_states_the_tier_the_file_supports() -> None:
    """The README says the tier the file supports, and names each rule still todo."""
    readme = (ROOT / "README.md").read_text()
    paragraph = next(
        (
            p
            for p in readme.split("\n\n")
            if p.startswith("**Integration quality scale.**")
        ),
        None,
    )
    assert paragraph is not None
    data = quality_scale.load()
    tier = supported_tier(data)
    stated = re.findall(r"supports (\*\*no tier\*\*|the \*\*(\w+)\*\* tier)", paragraph)
    assert len(stated) == 1
    whole, named = stated[0]
    if tier is None:
        assert whole == "**no tier**"
    else:
        assert named == tier.capitalize()
    todo = {
        name
        for name, value in data["rules"].items()
        if quality_scale.status_of(value)[0] == "todo"
    }
    for name in todo:
        assert f"`{name}`" in paragraph, name
    named_rules = set(re.findall(r"`([a-z-]+)`", paragraph)) & set(RULES)
    assert named_rules == todo


def test_a_rule_core_does_not_know_is_refused() -> None:
    data = all_done()
    data["rules"]["dependency-transparecy"] = "done"
    assert problems(data) == [
        "dependency-transparecy: not a rule of core's quality scale"
    ]


def test_a_missing_rule_is_refused() -> None:
    data = all_done()
    del data["rules"]["docs-triggers"]
    assert problems(data) == ["docs-triggers: missing (core lists it, tier bronze)"]


@pytest.mark.parametrize("status", ["Done", "n/a", "partial", None, True])
def test_a_status_outside_done_todo_exempt_is_refused(status: Any) -> None:
    data = all_done()
    data["rules"]["devices"] = status
    data["rules"]["brands"] = {"status": status, "comment": "why"}
    assert problems(data) == [
        f"brands: status {status!r} is not one of done, todo, exempt",
        f"devices: status {status!r} is not one of done, todo, exempt",
    ]


@pytest.mark.parametrize("status", ["todo", "exempt"])
@pytest.mark.parametrize("comment", [None, "", "   "])
def test_todo_or_exempt_without_a_reason_is_refused(
    status: str, comment: str | None
) -> None:
    data = all_done()
    data["rules"]["discovery"] = status
    data["rules"]["stale-devices"] = {"status": status, "comment": comment}
    assert problems(data) == [
        f"discovery: {status} without a comment saying why",
        f"stale-devices: {status} without a comment saying why",
    ]


def test_done_may_carry_a_comment_but_nothing_else() -> None:
    data = all_done()
    data["rules"]["brands"] = {"status": "done", "comment": "brand/ in the package"}
    assert problems(data) == []
    data["rules"]["brands"] = {"status": "done", "note": "x"}
    assert problems(data) == ["brands: unknown keys ['note']"]
    data = all_done()
    data["extra"] = {}
    assert problems(data) == [
        "top-level keys ['extra', 'rules'], expected only 'rules'"
    ]


@pytest.mark.parametrize(
    ("not_met", "expected"),
    [
        ((), "platinum"),
        (("strict-typing",), "gold"),
        (("stale-devices",), "silver"),
        (("stale-devices", "async-dependency"), "silver"),
        (("log-when-unavailable",), "bronze"),
        (("log-when-unavailable", "devices"), "bronze"),
        (("test-before-setup",), None),
        (("test-before-setup", "strict-typing"), None),
    ],
)
def test_the_tier_is_the_highest_with_every_rule_up_to_it_met(
    not_met: tuple[str, ...], expected: str | None
) -> None:
    data = all_done()
    for name in not_met:
        data["rules"][name] = {"status": "todo", "comment": "later"}
    assert supported_tier(data) == expected


def test_exempt_counts_as_met() -> None:
    data = all_done()
    for name in ("test-before-setup", "devices", "strict-typing"):
        data["rules"][name] = {"status": "exempt", "comment": "does not apply"}
    assert supported_tier(data) == "platinum"


def test_a_missing_rule_is_not_met() -> None:
    data = all_done()
    del data["rules"]["entity-unavailable"]
    assert supported_tier(data) == "bronze"
