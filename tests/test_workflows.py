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
    [pattern] = data["on"]["push"]["tags"]
    assert pattern == "v[0-9]+.[0-9]+.[0-9]+"
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
