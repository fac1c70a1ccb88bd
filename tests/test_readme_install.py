"""The README's installation buttons point at this repository and domain; its beta tag is one the release workflow publishes as a pre-release."""

from __future__ import annotations

import json
from pathlib import Path
import re
from urllib.parse import parse_qs, urlsplit

from tests.test_workflows import github_tag_filter, workflow

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MANIFEST = json.loads((ROOT / "custom_components/flatpeak/manifest.json").read_text())


def installation() -> str:
    start = README.index("\n## Installation")
    return README[start : README.index("\n## ", start + 1)]


def badges() -> dict[str, dict[str, list[str]]]:
    """Each my.home-assistant redirect of the section: its kind and query."""
    found: dict[str, dict[str, list[str]]] = {}
    for image, link in re.findall(
        r"\[!\[[^\]]+\]\((https://my\.home-assistant\.io/badges/[\w_]+\.svg)\)\]"
        r"\((https://my\.home-assistant\.io/redirect/[^)]+)\)",
        installation(),
    ):
        url = urlsplit(link)
        kind = url.path.strip("/").split("/")[1]
        assert image.endswith(f"/badges/{kind}.svg")
        found[kind] = parse_qs(url.query)
    return found


def test_the_hacs_button_opens_this_repository_as_an_integration() -> None:
    owner, repository = urlsplit(MANIFEST["documentation"]).path.strip("/").split("/")
    assert badges()["hacs_repository"] == {
        "owner": [owner],
        "repository": [repository],
        "category": ["integration"],
    }


def test_the_add_integration_button_starts_this_domain_s_flow() -> None:
    assert badges()["config_flow_start"] == {"domain": [MANIFEST["domain"]]}


def test_manual_installation_names_the_folder_to_copy() -> None:
    section = installation()
    assert "**Manual installation**" in section
    assert "`custom_components/flatpeak`" in section
    assert (ROOT / "custom_components/flatpeak/manifest.json").is_file()
    assert "restart" in section


def test_the_beta_tags_it_shows_are_published_as_prereleases() -> None:
    section = installation()
    beta = section[section.index("**Try a beta.**") :]
    filters = [
        github_tag_filter(p) for p in workflow("release.yml")["on"]["push"]["tags"]
    ]
    [example] = re.findall(r"`(v\d+\.\d+\.\d+b\d+)`", beta)
    assert any(f.fullmatch(example) for f in filters)
    assert "`vX.Y.ZbN`" in beta
    assert "Redownload" in beta
    assert "Pre-release" in beta
