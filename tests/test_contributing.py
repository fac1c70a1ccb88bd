"""CONTRIBUTING.md names commands that exist and the release steps the workflow checks."""

from __future__ import annotations

from pathlib import Path
import re

from tests.test_release import release_notes
from tests.test_workflows import github_tag_filter, workflow

ROOT = Path(__file__).resolve().parent.parent
TEXT = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")


def test_every_script_and_file_it_names_exists() -> None:
    named = set(
        re.findall(
            r"`(?:\.venv/bin/python |bash )?((?:scripts|tests|\.github/workflows)/[\w./]+)",
            TEXT,
        )
    )
    assert {"scripts/develop", "scripts/test", "scripts/brand.py"} <= named
    missing = [path for path in named if not (ROOT / path).exists()]
    assert missing == []


def test_the_release_steps_name_every_version_the_release_checks() -> None:
    places = {
        "manifest.json": "custom_components/flatpeak/manifest.json",
        "pyproject.toml": "pyproject.toml",
        "api/client.py": "custom_components/flatpeak/api/client.py",
        "CHANGELOG.md": "CHANGELOG.md",
    }
    assert set(release_notes.versions()) == set(places)
    for path in places.values():
        assert f"`{path}`" in TEXT, path


def test_the_tags_it_shows_are_the_ones_the_workflow_releases() -> None:
    filters = [
        github_tag_filter(p) for p in workflow("release.yml")["on"]["push"]["tags"]
    ]
    for tag in ("vX.Y.Z", "v0.3.0b1"):
        assert f"`{tag}`" in TEXT
    assert any(f.fullmatch("v0.3.0b1") for f in filters)
    for refused in ("v0.3.0-beta.1", "v0.3.0rc1"):
        assert f"`{refused}`" in TEXT
        assert not any(f.fullmatch(refused) for f in filters)
