"""scripts/setup picks a Python >= 3.14.2 and says what it needs when there is none."""

from __future__ import annotations

import os
from pathlib import Path
import re
import shutil
import subprocess
import sys

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    """A checkout without a venv: scripts/setup and its requirements only."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "setup", tmp_path / "scripts" / "setup")
    shutil.copy(ROOT / "requirements_test.txt", tmp_path / "requirements_test.txt")
    return tmp_path


def fake_python(directory: Path, version: tuple[int, int, int]) -> Path:
    """Write a python3.14 that reports ``version`` and cannot create a venv."""
    directory.mkdir(exist_ok=True)
    path = directory / "python3.14"
    path.write_text(
        "#!/bin/sh\n"
        f'exec {sys.executable} -c "import sys; sys.version_info = {version!r}; '
        'exec(sys.argv[2])" -c "$2"\n'
    )
    path.chmod(0o755)
    return path


def setup(clone: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603
        ["/bin/bash", str(clone / "scripts" / "setup")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/"), **env},
    )


def test_no_python_names_what_is_needed(clone: Path) -> None:
    result = setup(clone)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "scripts/setup: Python 3.14 (>= 3.14.2) is required: put python3.14 on PATH"
        " or set FLATPEAK_PYTHON to its path"
    )
    assert not (clone / ".venv").exists()


def test_a_too_old_python_on_path_is_not_used(clone: Path) -> None:
    bin_dir = clone / "bin"
    fake_python(bin_dir, (3, 14, 1))
    result = setup(clone, PATH=f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode == 1
    assert "is required" in result.stderr


def test_flatpeak_python_must_be_recent_enough(clone: Path) -> None:
    old = fake_python(clone / "bin", (3, 13, 9))
    result = setup(clone, FLATPEAK_PYTHON=str(old))
    assert result.returncode == 1
    assert f"FLATPEAK_PYTHON={old} is not Python >= 3.14.2" in result.stderr


def test_python_on_path_is_used_and_each_stage_is_reported(clone: Path) -> None:
    # A recent enough python3.14 that fails at `-m venv`: the stage line comes first.
    bin_dir = clone / "bin"
    fake_python(bin_dir, (3, 14, 2))
    result = setup(clone, PATH=f"{bin_dir}:/usr/bin:/bin")
    assert result.returncode != 0
    first = result.stderr.splitlines()[0]
    assert first.startswith(f"scripts/setup: creating .venv with {bin_dir}/python3.14")
    # The elapsed seconds end the line (their value depends on the machine).
    assert re.search(r"\(\d+s\)$", first), first
