"""The release's versions agree, and the release notes come from the CHANGELOG."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
import shutil
from types import ModuleType

import pytest

from custom_components.flatpeak.api import client

ROOT = Path(__file__).resolve().parent.parent


def load_release_notes() -> ModuleType:
    """Import scripts/release_notes.py (a script, not a package module)."""
    spec = importlib.util.spec_from_file_location(
        "release_notes", ROOT / "scripts" / "release_notes.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


release_notes = load_release_notes()


def manifest_version() -> str:
    manifest = json.loads(
        (ROOT / "custom_components/flatpeak/manifest.json").read_text()
    )
    return str(manifest["version"])


def test_manifest_version_is_the_newest_changelog_release() -> None:
    releases = release_notes.changelog_releases((ROOT / "CHANGELOG.md").read_text())
    newest = next(iter(releases))
    assert manifest_version() == newest
    # Newest first, every release once, each with its notes.
    numbers = [release_notes.version_key(v) for v in releases]
    assert numbers == sorted(numbers, reverse=True)
    assert all(releases.values())


def test_the_versions_agree() -> None:
    assert release_notes.versions() == {
        "manifest.json": manifest_version(),
        "pyproject.toml": manifest_version(),
        "api/client.py": manifest_version(),
        "CHANGELOG.md": manifest_version(),
    }
    # The one the API client sends in its User-Agent.
    assert client.__version__ == manifest_version()
    assert client.USER_AGENT.endswith(f"/{manifest_version()}")


def test_release_notes_are_the_changelog_section() -> None:
    notes = release_notes.notes_for_tag(f"v{manifest_version()}")
    changelog = (ROOT / "CHANGELOG.md").read_text()
    heading = f"## [{manifest_version()}] - "
    section = changelog[changelog.index(heading) :]
    section = section[section.index("\n") : section.index("\n## [", 1)]
    assert notes == section.strip()
    assert notes.startswith("### ")
    assert "## [" not in notes


def test_the_link_references_close_the_oldest_section() -> None:
    releases = release_notes.changelog_releases((ROOT / "CHANGELOG.md").read_text())
    oldest = releases[list(releases)[-1]]
    assert "]: https://" not in oldest


@pytest.mark.parametrize("tag", ["v0.0.1", "0.2.0", "v0.2", "release"])
def test_a_tag_other_than_the_manifest_version_is_refused(tag: str) -> None:
    with pytest.raises(ValueError, match="does not match the manifest version"):
        release_notes.notes_for_tag(tag)


def test_versions_that_disagree_are_refused(tmp_path: Path) -> None:
    for name in ("CHANGELOG.md", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(
        ROOT / "custom_components/flatpeak", tmp_path / "custom_components/flatpeak"
    )
    manifest_path = tmp_path / "custom_components/flatpeak/manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["version"] = "9.9.9"
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match="the versions disagree"):
        release_notes.notes_for_tag("v9.9.9", tmp_path)


def test_the_script_prints_the_notes_or_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert release_notes.main(["release_notes.py", f"v{manifest_version()}"]) == 0
    assert capsys.readouterr().out.startswith("### ")
    assert release_notes.main(["release_notes.py", "v0.0.0"]) == 1
    assert "does not match" in capsys.readouterr().err
    assert release_notes.main(["release_notes.py"]) == 2


def test_betas_order_before_their_release() -> None:
    order = ["0.2.0", "0.3.0b1", "0.3.0b2", "0.3.0b10", "0.3.0", "0.3.1", "1.0.0"]
    shuffled = ["1.0.0", "0.3.0", "0.3.0b10", "0.2.0", "0.3.0b2", "0.3.1", "0.3.0b1"]
    assert sorted(shuffled, key=release_notes.version_key) == order
    for version in ("0.3", "0.3.0-beta.1", "0.3.0rc1", "v0.3.0"):
        with pytest.raises(ValueError, match=r"is not X\.Y\.Z or X\.Y\.ZbN"):
            release_notes.version_key(version)


def test_a_beta_is_released_from_its_changelog_section(tmp_path: Path) -> None:
    shutil.copytree(
        ROOT / "custom_components/flatpeak", tmp_path / "custom_components/flatpeak"
    )
    beta = "0.9.0b1"
    for name in (
        "custom_components/flatpeak/manifest.json",
        "custom_components/flatpeak/api/client.py",
    ):
        path = tmp_path / name
        path.write_text(path.read_text().replace(manifest_version(), beta))
    pyproject = (ROOT / "pyproject.toml").read_text()
    (tmp_path / "pyproject.toml").write_text(
        pyproject.replace(f'version = "{manifest_version()}"', f'version = "{beta}"')
    )
    changelog = (ROOT / "CHANGELOG.md").read_text()
    first = changelog.index("\n## [")
    (tmp_path / "CHANGELOG.md").write_text(
        changelog[:first]
        + f"\n## [{beta}] - 2026-12-24\n\n### Added\n\n- A beta.\n"
        + changelog[first:]
    )
    assert release_notes.versions(tmp_path) == dict.fromkeys(
        ("manifest.json", "pyproject.toml", "api/client.py", "CHANGELOG.md"), beta
    )
    assert release_notes.notes_for_tag(f"v{beta}", tmp_path) == "### Added\n\n- A beta."
    with pytest.raises(ValueError, match="does not match"):
        release_notes.notes_for_tag("v0.9.0", tmp_path)
