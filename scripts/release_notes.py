"""Check a release tag against the project's versions; print its CHANGELOG section.

    python3 scripts/release_notes.py v0.2.0 > notes.md

Exits 1 (with the reason on stderr) unless the tag is ``v`` + the version that
manifest.json, pyproject.toml, the API client and the newest CHANGELOG release
all name. A version is X.Y.Z, or X.Y.ZbN for a beta (published as a GitHub
pre-release). The release workflow (.github/workflows/release.yml) runs it; it
needs only the standard library of Python >= 3.11.
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import sys
import tomllib

ROOT = Path(__file__).resolve().parent.parent
VERSION = r"\d+\.\d+\.\d+(?:b\d+)?"
RELEASE = re.compile(rf"^## \[(?P<version>{VERSION})\] - \d{{4}}-\d{{2}}-\d{{2}}$")
LINK_REFERENCE = re.compile(r"^\[[^\]]+\]: ")
CLIENT_VERSION = re.compile(r'^__version__ = "(?P<version>[^"]+)"$', re.MULTILINE)


def version_key(version: str) -> tuple[int, int, int, int, int]:
    """Order versions: 0.3.0b1 < 0.3.0b2 < 0.3.0 < 0.3.1; ValueError if not one."""
    match = re.fullmatch(r"(\d+)\.(\d+)\.(\d+)(?:b(\d+))?", version)
    if match is None:
        raise ValueError(f"{version} is not X.Y.Z or X.Y.ZbN")
    major, minor, patch, beta = match.groups()
    final = beta is None
    return (int(major), int(minor), int(patch), int(final), int(beta or 0))


def changelog_releases(text: str) -> dict[str, str]:
    """Return each release's section (without its heading), newest first."""
    releases: dict[str, str] = {}
    current: str | None = None
    lines: list[str] = []
    for line in [*text.splitlines(), "## (end)"]:
        # A heading of level 2 or the link references at the end close a section.
        if line.startswith("## ") or LINK_REFERENCE.match(line):
            if current is not None:
                releases[current] = "\n".join(lines).strip()
            current, lines = None, []
            if match := RELEASE.match(line):
                current = match["version"]
        elif current is not None:
            lines.append(line)
    return releases


def versions(root: Path = ROOT) -> dict[str, str]:
    """Return the version each place names (the newest CHANGELOG release too)."""
    manifest = json.loads(
        (root / "custom_components/flatpeak/manifest.json").read_text()
    )
    pyproject = tomllib.loads((root / "pyproject.toml").read_text())
    client = CLIENT_VERSION.search(
        (root / "custom_components/flatpeak/api/client.py").read_text()
    )
    releases = changelog_releases((root / "CHANGELOG.md").read_text())
    return {
        "manifest.json": manifest["version"],
        "pyproject.toml": pyproject["project"]["version"],
        "api/client.py": client["version"] if client else "(none)",
        "CHANGELOG.md": next(iter(releases), "(none)"),
    }


def notes_for_tag(tag: str, root: Path = ROOT) -> str:
    """Return the CHANGELOG section of ``tag``; raise ValueError on a mismatch."""
    found = versions(root)
    if len(set(found.values())) != 1:
        raise ValueError(f"the versions disagree: {found}")
    version = found["manifest.json"]
    if tag != f"v{version}":
        raise ValueError(f"tag {tag} does not match the manifest version {version}")
    section = changelog_releases((root / "CHANGELOG.md").read_text())[version]
    if not section:
        raise ValueError(f"the CHANGELOG section of {version} is empty")
    return section


def main(argv: list[str]) -> int:
    """Print the release notes of the tag in ``argv[1]``."""
    if len(argv) != 2:
        print("usage: scripts/release_notes.py vX.Y.Z", file=sys.stderr)
        return 2
    try:
        print(notes_for_tag(argv[1]))
    except ValueError as err:
        print(f"release_notes: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
