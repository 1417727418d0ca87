"""``carrier serve`` with ``webchat.enabled`` serves the patient page on its own port, as
an operator runs it (a subprocess on its own database): the page, a voice session, and
no text chat from an application that offers none (the speech-free ops application)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import yaml

from tests.conftest import EmbeddedPostgres, cluster_dir
from tests.ops_runtime.rig import Node, pick_ports, write_config
from tests.ops_runtime.test_serve_ops import _create_db

pytestmark = [pytest.mark.postgres, pytest.mark.timeout(180)]


@dataclass
class WebNode(Node):
    webchat_port: int = 0


@pytest.fixture
def node(pg_cluster: EmbeddedPostgres) -> Iterator[WebNode]:
    base = cluster_dir()
    name = f"webchat_{os.getpid()}"
    asyncio.run(_create_db(pg_cluster, name))
    sip_port, console, web, keepalive = pick_ports(4)
    n = WebNode(base=base, config_dir=base / "config", data_dir=base / "data",
                db_url=pg_cluster.uri(name), sip_port=sip_port, console_port=console,
                registrar_port=keepalive + 2, keepalive_port=keepalive,
                calls_log=base / "calls.log", stdout=base / "out.log",
                stderr=base / "err.log", webchat_port=web)
    write_config(n)
    main = yaml.safe_load((n.config_dir / "carrier.yaml").read_text())
    main["webchat"] = {"enabled": True, "bind_host": "127.0.0.1", "port": web}
    (n.config_dir / "carrier.yaml").write_text(yaml.safe_dump(main))
    try:
        n.start()
        yield n
    finally:
        n.stop_all()
        shutil.rmtree(base, ignore_errors=True)


def post(url: str, body: dict[str, object]) -> tuple[int, dict[str, object]]:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return int(r.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code


def test_serve_mounts_the_page_on_its_own_port(node: WebNode) -> None:
    base = f"http://127.0.0.1:{node.webchat_port}"
    # the ports open after "serving SIP" (a bounded wait on the node, an outside process)
    node.wait_for(lambda: "webchat listening" in node.stderr.read_text(), 30, "webchat")
    with urllib.request.urlopen(base + "/", timeout=10) as r:
        page = r.read().decode()
        assert r.status == 200
        assert "Talk to the clinic" in page
        assert r.headers.get("Set-Cookie") is None
    status, body = post(base + "/api/session", {"mode": "voice"})
    assert status == 201
    assert body["token"]
    assert post(base + "/api/session", {"mode": "text"})[0] == 501
    # the console's sign-in is not on the page's port, and the page is not on the console's
    assert get_status(base + "/login") == 404
    assert get_status(f"http://127.0.0.1:{node.webchat_port}/static/../app.py") == 404
