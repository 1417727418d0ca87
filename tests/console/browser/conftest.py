"""Browser fixtures: a real ``carrier serve`` and one headless Debian Chromium per module.

* ``node`` (module): ``carrier serve`` as a subprocess (:mod:`tests.ops_runtime.rig`: its
  own config, data folder and database on the session's embedded cluster, hosting the
  speech-free ops application), console over HTTPS with its self-signed loopback
  certificate. SIPp places the calls.
* ``operator(role)``: ``carrier user add`` as an operator runs it; returns the name, the
  one-time password and the TOTP secret it printed.
* ``browser`` (module): Selenium driving ``/usr/bin/chromium`` through
  ``/usr/bin/chromedriver``, both given by path, so Selenium Manager never runs (and
  ``SE_OFFLINE`` forbids it any download); a fresh profile and download folder.
* A failing test leaves ``failure.png`` and ``failure.html`` in its ``tmp_path``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import ssl
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import EmbeddedPostgres, cluster_dir
from tests.ops_runtime.rig import Node, pick_ports, write_config

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", "--no-default-browser-check", "--window-size=1400,1000")

needs_browser = pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists() and shutil.which("sipp")),
    reason="Debian chromium, chromium-driver and sipp are needed (the CI image has them)")


@dataclass(frozen=True)
class Account:
    name: str
    password: str
    totp_secret: str


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Iterator[pytest.TestReport]:
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


async def _create_db(pg: EmbeddedPostgres, name: str) -> None:
    conn = await asyncpg.connect(pg.uri())
    try:
        await conn.execute(f"CREATE DATABASE {name}")
    finally:
        await conn.close()


def _console_up(node: Node) -> bool:
    tls = ssl.create_default_context()
    tls.check_hostname = False
    tls.verify_mode = ssl.CERT_NONE  # the node's self-signed loopback certificate
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{node.console_port}/login",
                                    timeout=2, context=tls) as r:
            return bool(r.status == 200)
    except OSError:
        return False


@pytest.fixture(scope="module")
def node(pg_cluster: EmbeddedPostgres) -> Iterator[Node]:
    base = cluster_dir()
    name = f"console_browser_{os.getpid()}"
    asyncio.run(_create_db(pg_cluster, name))
    sip_port, console, registrar, keepalive = pick_ports(4)
    n = Node(base=base, config_dir=base / "config", data_dir=base / "data",
             db_url=pg_cluster.uri(name), sip_port=sip_port, console_port=console,
             registrar_port=registrar, keepalive_port=keepalive,
             calls_log=base / "calls.log", stdout=base / "out.log", stderr=base / "err.log")
    write_config(n)
    try:
        n.start()
        n.wait_for(lambda: _console_up(n), 30, "console up")
        yield n
    finally:
        n.stop_all()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def operator(node: Node) -> Callable[[str], Account]:
    made: dict[str, Account] = {}

    def make(role: str) -> Account:
        if role not in made:
            done = node.carrier("user", "add", f"ui-{role}", "--role", role)
            assert done.returncode == 0, done.stderr
            password = re.search(r"one-time password: (\S+)", done.stdout)
            secret = re.search(r"secret=([A-Z2-7]+)", done.stdout)
            assert password, done.stdout
            assert secret, done.stdout
            made[role] = Account(f"ui-{role}", password.group(1), secret.group(1))
        return made[role]

    return make


@pytest.fixture(scope="module")
def downloads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("downloads")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory, downloads: Path) -> Iterator[object]:
    from selenium import webdriver  # noqa: PLC0415 - only the browser tests need it
    from selenium.webdriver.chrome.service import Service  # noqa: PLC0415

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager may not fetch anything
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.accept_insecure_certs = True  # the console's self-signed loopback certificate
    options.add_experimental_option("prefs", {
        "download.default_directory": str(downloads), "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(downloads)})
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: object, tmp_path: Path) -> Iterator[object]:
    """The module's browser, with a screenshot and the page source kept on failure."""
    yield browser
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        with contextlib.suppress(Exception):  # the browser itself may be what failed
            browser.save_screenshot(str(tmp_path / "failure.png"))  # type: ignore[attr-defined]
            (tmp_path / "failure.html").write_text(browser.page_source)  # type: ignore[attr-defined]
            print(f"screenshot: {tmp_path / 'failure.png'}")


def wait_file(folder: Path, pattern: str, limit: float = 20) -> Path:
    """A finished download in ``folder`` (bounded wait on the browser, an outside process)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        done = [p for p in folder.glob(pattern) if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.1)  # bounded wait on Chromium writing the file
    raise AssertionError(f"no {pattern} downloaded into {folder}")
