"""The GitHub workflows parse, name the jobs and steps they must run, pin actions."""

from __future__ import annotations

from pathlib import Path
import re
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
# owner/repo[/path]@ref, the ref a tag, a branch or a commit.
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[\w.-]+$")


def workflow(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    # YAML 1.1 reads the key `on` as the boolean true.
    data["on"] = data.pop(True, data.get("on"))
    return data


def steps(data: dict[str, Any], job: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = data["jobs"][job]["steps"]
    return found


def uses(data: dict[str, Any], job: str) -> list[str]:
    return [step["uses"] for step in steps(data, job) if "uses" in step]


def runs(data: dict[str, Any], job: str) -> str:
    return "\n".join(step["run"] for step in steps(data, job) if "run" in step)


def test_the_three_workflows_exist() -> None:
    assert sorted(p.name for p in WORKFLOWS.iterdir()) == [
        "release.yml",
        "tests.yml",
        "validate.yml",
    ]


@pytest.mark.parametrize("name", ["release.yml", "tests.yml", "validate.yml"])
def test_every_workflow_is_complete_and_pins_its_actions(name: str) -> None:
    data = workflow(name)
    assert data["name"]
    assert data["on"]
    assert data["jobs"]
    for job_id, job in data["jobs"].items():
        assert job["runs-on"] == "ubuntu-latest", job_id
        assert job["steps"], job_id
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), step
            if "uses" in step:
                assert PINNED.match(step["uses"]), f"{name}: {step['uses']} unpinned"


def test_validate_runs_hassfest_and_hacs() -> None:
    data = workflow("validate.yml")
    assert set(data["on"]) >= {"push", "pull_request", "schedule"}
    assert uses(data, "hassfest") == [
        "actions/checkout@v4",
        "home-assistant/actions/hassfest@master",
    ]
    [hacs] = [s for s in steps(data, "hacs") if "uses" in s]
    assert hacs["uses"] == "hacs/action@main"
    assert hacs["with"] == {"category": "integration"}


def test_tests_run_the_readme_command_on_python_3_14() -> None:
    data = workflow("tests.yml")
    job = data["jobs"]["tests"]
    assert job["container"].startswith("python:3.14")
    assert "chromium" in runs(data, "tests")
    assert "bash scripts/test" in runs(data, "tests")
    # scripts/test runs the suite on the newest and on the floor Home Assistant.
    script = (ROOT / "scripts" / "test").read_text()
    assert "bash scripts/setup floor" in script
    assert ".venv-floor/bin/python -m pytest" in script
    readme = (ROOT / "README.md").read_text()
    assert "| `scripts/test` |" in readme


def test_release_checks_the_tag_then_publishes_the_changelog_section() -> None:
    data = workflow("release.yml")
    assert data["on"]["push"]["tags"] == [
        "v[0-9]+.[0-9]+.[0-9]+",
        "v[0-9]+.[0-9]+.[0-9]+b[0-9]+",
    ]
    assert data["permissions"] == {"contents": "write"}
    names = [step.get("name") for step in steps(data, "release")]
    assert names == [
        "Check out the repository",
        "Check the tag matches the manifest version",
        "Publish the GitHub release",
    ]
    check, publish = steps(data, "release")[1:]
    assert (
        'scripts/release_notes.py "$GITHUB_REF_NAME" > release-notes.md'
        in (check["run"])
    )
    assert publish["run"].startswith('gh release create "$GITHUB_REF_NAME"')
    assert "--notes-file release-notes.md" in publish["run"]
    assert publish["env"] == {"GH_TOKEN": "${{ github.token }}"}


def github_tag_filter(pattern: str) -> re.Pattern[str]:
    """A GitHub filter pattern of the kind release.yml uses, as a regular expression.

    In such a pattern `[0-9]` is a class, `+` one or more of what precedes it, and
    every other character (here `v`, `.`, `b`) itself.
    """
    assert set(re.sub(r"\[0-9\]|\+", "", pattern)) <= set("vb."), pattern
    return re.compile(pattern.replace(".", r"\."))


@pytest.mark.parametrize(
    ("tag", "release", "prerelease"),
    [
        ("v0.2.0", True, False),
        ("v10.20.30", True, False),
        ("v0.3.0b1", True, True),
        ("v0.3.0b12", True, True),
        ("v0.3.0-beta.1", False, False),
        ("v0.3.0rc1", False, False),
        ("v0.3", False, False),
        ("0.3.0", False, False),
    ],
)
def test_a_stable_tag_is_a_release_and_a_beta_tag_a_prerelease(
    tag: str, release: bool, prerelease: bool
) -> None:
    data = workflow("release.yml")
    filters = [github_tag_filter(p) for p in data["on"]["push"]["tags"]]
    assert any(f.fullmatch(tag) for f in filters) is release
    publish = steps(data, "release")[2]["run"]
    # The flag is added when the tag has a "b": only a beta's does.
    assert "${{ contains(github.ref_name, 'b') && '--prerelease' || '' }}" in publish
    assert (release and "b" in tag) is prerelease
