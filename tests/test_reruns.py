"""The suite's one rerun rule (``tests/conftest.py``), run as pytest runs it.

A call with real speech that fails once is rerun once and reported as ``R``; a test
with models but no call is not rerun; a call that fails twice still fails the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = '''
from tests.conftest import pytest_collection_modifyitems  # noqa: F401  the rule under test


def pytest_configure(config):
    for name in ("pjsua2", "models", "call_speech"):
        config.addinivalue_line("markers", f"{name}: test marker")
'''

TESTS = '''
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def fails_first(name):
    mark = HERE / name
    if not mark.exists():
        mark.write_text("ran")
        raise AssertionError("first run fails")


@pytest.mark.call_speech
def test_loopback_call_fails_once():
    fails_first("loopback")


@pytest.mark.pjsua2
@pytest.mark.models
def test_phone_call_fails_once():
    fails_first("phone")


@pytest.mark.models
def test_models_without_a_call_fails_once():
    fails_first("models")


@pytest.mark.call_speech
def test_call_that_always_fails():
    raise AssertionError("fails every time")
'''


def test_only_calls_with_real_speech_are_rerun_and_only_once(tmp_path: Path) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_flaky.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    tail = run.stdout.strip().splitlines()[-1]
    assert "2 failed, 2 passed, 3 rerun" in tail, run.stdout[-3000:]
    assert "FAILED test_flaky.py::test_models_without_a_call_fails_once" in run.stdout
    assert "FAILED test_flaky.py::test_call_that_always_fails" in run.stdout
