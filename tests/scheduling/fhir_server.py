"""A tiny FHIR R4 test server on 127.0.0.1: read, search, create, versioned update.

Enough of the REST API for the calendar adapter: ``GET [type]/[id]`` (ETag W/"n"),
``GET [type]?params`` (searchset Bundle; Slot by status and start=gt/ge, Appointment by
patient), ``POST [type]`` (201 with the created resource), ``PUT [type]/[id]`` with
``If-Match`` (412 on a stale version).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


class FhirStore:
    def __init__(self) -> None:
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.requests: list[tuple[str, str]] = []

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        kind = resource["resourceType"]
        resource.setdefault("meta", {})["versionId"] = str(
            int(self.resources.get(kind, {}).get(resource["id"], {}).get("meta", {}).get(
                "versionId", "0")) + 1)
        self.resources.setdefault(kind, {})[resource["id"]] = resource
        return resource


def _start(res: dict[str, Any]) -> dt.datetime:
    return dt.datetime.fromisoformat(res["start"].replace("Z", "+00:00"))


def _matches(kind: str, res: dict[str, Any], params: dict[str, list[str]]) -> bool:
    for key, values in params.items():
        value = values[0]
        if key.startswith("_"):
            continue
        if key == "status" and res.get("status") != value:
            return False
        if key == "start":
            op, when = value[:2], dt.datetime.fromisoformat(value[2:].replace("Z", "+00:00"))
            if op == "gt" and not _start(res) > when:
                return False
            if op == "ge" and not _start(res) >= when:
                return False
        if key == "patient" and kind == "Appointment" and not any(
                p.get("actor", {}).get("reference") == value for p in res.get("participant", [])):
            return False
        if key == "actor" and not any(a.get("reference") == value for a in res.get("actor", [])):
            return False
    return True


class Handler(BaseHTTPRequestHandler):
    store: FhirStore

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _send(self, code: int, body: dict[str, Any] | None, etag: str | None = None) -> None:
        data = json.dumps(body).encode() if body is not None else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/fhir+json")
        self.send_header("Content-Length", str(len(data)))
        if etag:
            self.send_header("ETag", etag)
        self.end_headers()
        self.wfile.write(data)

    def _parts(self) -> tuple[str, str | None, dict[str, list[str]]]:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        return parts[0], parts[1] if len(parts) > 1 else None, parse_qs(url.query)

    def do_GET(self) -> None:
        kind, rid, params = self._parts()
        self.store.requests.append(("GET", self.path))
        with self.store.lock:
            if rid is not None:
                res = self.store.resources.get(kind, {}).get(rid)
                if res is None:
                    self._send(404, {"resourceType": "OperationOutcome"})
                    return
                self._send(200, res, f'W/"{res["meta"]["versionId"]}"')
                return
            found = [r for r in self.store.resources.get(kind, {}).values()
                     if _matches(kind, r, params)]
            if params.get("_sort") == ["start"]:
                found.sort(key=_start)
            count = int(params.get("_count", ["100"])[0])
            self._send(200, {"resourceType": "Bundle", "type": "searchset", "total": len(found),
                             "entry": [{"resource": r} for r in found[:count]]})

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length", "0"))
        return json.loads(self.rfile.read(length))  # type: ignore[no-any-return]

    def do_POST(self) -> None:
        kind, _, _ = self._parts()
        self.store.requests.append(("POST", self.path))
        body = self._body()
        with self.store.lock:
            body["id"] = f"{kind.lower()}-{next(self.store.ids)}"
            res = self.store.put(body)
        self._send(201, res, f'W/"{res["meta"]["versionId"]}"')

    def do_PUT(self) -> None:
        kind, rid, _ = self._parts()
        self.store.requests.append(("PUT", self.path))
        body = self._body()
        with self.store.lock:
            current = self.store.resources.get(kind, {}).get(rid or "")
            wanted = self.headers.get("If-Match")
            if current is not None and wanted and wanted != f'W/"{current["meta"]["versionId"]}"':
                self._send(412, {"resourceType": "OperationOutcome"})
                return
            body["id"] = rid
            res = self.store.put(body)
        self._send(200, res, f'W/"{res["meta"]["versionId"]}"')


def serve(store: FhirStore) -> tuple[ThreadingHTTPServer, str]:
    handler = type("BoundHandler", (Handler,), {"store": store})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"
