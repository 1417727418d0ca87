"""The suite's rerun rule (``tests/conftest.py``), run as pytest runs it.

A call with real speech that fails once is rerun once and reported as ``R``; a test
with models but no call is not rerun; a call that fails twice still fails the suite; a
pjsua2 test without speech is rerun once only when its peer process crashed; and the
summary says why each rerun test failed its first attempt.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

CONFTEST = '''
from tests.conftest import (  # noqa: F401  the rule under test, and its report
    pytest_collection_modifyitems,
    pytest_runtest_logreport,
    pytest_terminal_summary,
)


def pytest_configure(config):
    for name in ("pjsua2", "models", "call_speech"):
        config.addinivalue_line("markers", f"{name}: test marker")
'''

TESTS = '''
from pathlib import Path

import pytest

HERE = Path(__file__).parent


def fails_first(name, error=AssertionError):
    mark = HERE / name
    if not mark.exists():
        mark.write_text("ran")
        raise error("first run fails")


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


class PeerCrashed(RuntimeError):
    pass


@pytest.mark.pjsua2
def test_peer_crashes_once():
    fails_first("crash", PeerCrashed)


@pytest.mark.pjsua2
def test_peer_test_fails_once_otherwise():
    fails_first("peer")
'''


@pytest.mark.parametrize("workers", [
    pytest.param([], id="one-process"),
    # As the suite runs (pyproject addopts): reruns happen in the workers, and the reasons
    # must still reach the summary printed by the controlling process.
    pytest.param(["-n", "2", "--dist", "loadfile"], id="xdist"),
])
def test_only_calls_with_real_speech_are_rerun_and_only_once(
        tmp_path: Path, workers: list[str]) -> None:
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "test_flaky.py").write_text(TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    path = [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *workers,
         str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False)
    if workers:  # the failures name the worker that ran them
        assert re.search(r"^\[gw[01]\] linux", run.stdout, re.M), run.stdout[-3000:]
    tail = run.stdout.strip().splitlines()[-1]
    assert "3 failed, 3 passed, 4 rerun" in tail, run.stdout[-3000:]
    assert "FAILED test_flaky.py::test_models_without_a_call_fails_once" in run.stdout
    assert "FAILED test_flaky.py::test_call_that_always_fails" in run.stdout
    # A pjsua2 test without speech is rerun only when its peer process crashed.
    assert "FAILED test_flaky.py::test_peer_test_fails_once_otherwise" in run.stdout
    # Why each rerun failed first is printed (CI showed only "1 rerun", no test, no reason).
    why = run.stdout.split("why the reruns failed first", 1)[1]
    assert "test_flaky.py::test_loopback_call_fails_once: AssertionError: first run fails" in why
    assert "test_flaky.py::test_peer_crashes_once: test_flaky.PeerCrashed: first run fails" in why


# Modules that drive a synthetic speaking caller but whose assertions do not depend on
# what Whisper heard (so a mis-hearing cannot fail them), with the reason.
NOT_SPEECH_DEPENDENT = {
    "tests/agent/test_demo_phone.py": "the scripted patient over fake media, no Whisper",
    "tests/dialer/test_campaign_run_e2e.py": "accepts any answered outcome of the call",
    "tests/dialer/test_demo_call.py": "accepts a call not confirmed by voice (exit 1)",
}
SPEAKING_CALLERS = {"demo.phone", "tests.e2e.harness"}


def _imports_a_speaking_caller(text: str) -> bool:
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.ImportFrom) and node.module:
            names = {f"{node.module}.{a.name}" for a in node.names}
            if node.module in SPEAKING_CALLERS or names & SPEAKING_CALLERS:
                return True
    return False


def _rerun_covered(text: str) -> bool:
    return "pytest.mark.call_speech" in text or (
        "pytest.mark.pjsua2" in text and "pytest.mark.models" in text)


def test_every_module_with_a_speaking_caller_is_under_the_rerun_rule() -> None:
    """A test whose outcome hangs on Whisper hearing a synthetic caller gets the one rerun
    (CI failed on such a call in a module that lacked the marker); one that does not hang
    on it is named above with its reason."""
    uncovered = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        rel = path.relative_to(ROOT).as_posix()
        text = path.read_text()
        if (_imports_a_speaking_caller(text) and not _rerun_covered(text)
                and rel not in NOT_SPEECH_DEPENDENT):
            uncovered.append(rel)
    assert not uncovered, f"mark these call_speech or name why not: {uncovered}"
    assert _rerun_covered("pytestmark = [pytest.mark.call_speech]")
    assert not _rerun_covered("pytestmark = [pytest.mark.models]")
    assert _imports_a_speaking_caller("from tests.e2e import harness")
    assert not _imports_a_speaking_caller("text = 'from demo.phone import PatientPhone'")
