"""Write translations/en.json from strings.json, resolving [%key:...%] references.

Home Assistant resolves these references only for core integrations; a custom
integration must ship a resolved en.json. Run: .venv/bin/python scripts/translations.py
(tests/test_hassfest.py fails when en.json is out of date).
"""

from __future__ import annotations

import json
from pathlib import Path
import re
import sys
from typing import Any

ROOT = Path(__file__).resolve().parent.parent / "custom_components" / "flatpeak"
REFERENCE = re.compile(r"\[%key:component::flatpeak::([a-z0-9_:]+)%\]")


def resolve(strings: dict[str, Any]) -> dict[str, Any]:
    """Return ``strings`` with every reference replaced by its text."""

    def lookup(path: str) -> str:
        node: Any = strings
        for part in path.split("::"):
            node = node[part]
        if not isinstance(node, str):
            raise TypeError(f"reference {path} is not a string")
        return REFERENCE.sub(lambda m: lookup(m.group(1)), node)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: walk(value) for key, value in node.items()}
        return REFERENCE.sub(lambda m: lookup(m.group(1)), node)

    return walk(strings)  # type: ignore[no-any-return]


def render() -> str:
    """Return the content en.json must have."""
    strings = json.loads((ROOT / "strings.json").read_text(encoding="utf-8"))
    return json.dumps(resolve(strings), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    """Write en.json (or, with --check, fail when it is out of date)."""
    target = ROOT / "translations" / "en.json"
    content = render()
    if "--check" in sys.argv:
        return 0 if target.read_text(encoding="utf-8") == content else 1
    target.write_text(content, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
