"""The house tooling holds on the whole tree: ruff everywhere, mypy (strict on the cores)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    found = str(path) if path.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install -e '.[dev]')")
    return found


def test_ruff_clean() -> None:
    done = subprocess.run([_tool("ruff"), "check", "."], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout[-4000:]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_mypy_clean() -> None:
    done = subprocess.run([_tool("mypy"), "carrier", "media", "stir_shaken", "agent", "demo"],
                          cwd=REPO, capture_output=True, text=True, timeout=590, check=False)
    assert done.returncode == 0, done.stdout[-4000:]
