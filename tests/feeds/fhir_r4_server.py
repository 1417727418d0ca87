"""A local FHIR R4 server that follows the spec where the feed client leans on it.

* ``POST /token``: SMART Backend Services client credentials; the ``client_assertion``
  JWT is verified with the client's registered public key (signature, ``iss``/``sub``,
  ``aud`` = the token URL, ``exp``); answers a bearer token valid ``token_ttl`` seconds.
* Every FHIR request needs that bearer token (401 otherwise).
* ``GET [type]?_lastUpdated=gt...`` (or ``ge``) ``&_count=N``: a searchset Bundle sorted by
  ``meta.lastUpdated``, ``N`` per page, with ``next`` links (``_offset``).
* ``GET [type]/[id]`` with ``ETag: W/"version"``; ``PUT [type]/[id]`` honours ``If-Match``
  (412 on a stale version) and bumps ``meta.versionId`` and ``meta.lastUpdated``.
* ``POST [type]`` with ``If-None-Exist: identifier=system|value`` (conditional create:
  200 with the existing resource instead of a second one).
* ``DELETE [type]/[id]`` (204), and ``GET [type]/_history?_since=...``: a history Bundle
  of the deletions since then (``request.method`` DELETE, ``response.lastModified``);
  ``history`` False answers it 404, as servers without type-level history do.
* ``rate_limit``: the next N requests are answered ``429`` with ``Retry-After: 0``
  (``limit_status`` and ``retry_after`` change the status and the header's value).
* ``bundles``: a hook that may rewrite each search Bundle before it goes out (a server's
  bugs: a ``next`` link to itself or to another host, entries without a resource);
  ``authorizations`` keeps every ``Authorization`` header a FHIR request carried.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import secrets
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class FhirR4Server:
    def __init__(self, client_id: str, public_key_pem: bytes, *, token_ttl: int = 300) -> None:
        self.client_id = client_id
        self.public_key = public_key_pem
        self.token_ttl = token_ttl
        self.resources: dict[str, dict[str, dict[str, Any]]] = {}
        self.tokens: set[str] = set()
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.rate_limit = 0
        self.limit_status = 429
        self.retry_after = "0"
        self.bundles: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None
        self.authorizations: list[str] = []
        self.clock: Callable[[], str] = _now  # meta.lastUpdated of the next write
        self.deleted: list[tuple[str, str, int, str]] = []  # (type, id, version, when)
        self.history = True
        self.log: list[tuple[str, str, int]] = []
        self.notify: Callable[[], None] | None = None  # called after each request
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/fhir"

    @property
    def token_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/token"

    def start(self) -> FhirR4Server:
        self.thread.start()
        return self

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def put(self, resource: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            kind = resource["resourceType"]
            resource.setdefault("id", str(next(self.ids)))
            old = self.resources.get(kind, {}).get(resource["id"])
            version = int(old["meta"]["versionId"]) + 1 if old else 1
            resource["meta"] = {"versionId": str(version), "lastUpdated": self.clock()}
            self.resources.setdefault(kind, {})[resource["id"]] = resource
            return resource

    def delete(self, kind: str, rid: str) -> None:
        with self.lock:
            old = self.resources.get(kind, {}).pop(rid)
            self.deleted.append((kind, rid, int(old["meta"]["versionId"]) + 1, self.clock()))

    def _history(self, kind: str, query: dict[str, list[str]]) -> dict[str, Any]:
        since = dt.datetime.fromisoformat(query["_since"][0].replace("Z", "+00:00"))
        with self.lock:
            gone = [d for d in self.deleted
                    if d[0] == kind and dt.datetime.fromisoformat(d[3]) >= since]
        return {"resourceType": "Bundle", "type": "history", "total": len(gone),
                "entry": [{"fullUrl": f"{self.base}/{k}/{rid}",
                           "request": {"method": "DELETE", "url": f"{k}/{rid}/_history/{v}"},
                           "response": {"status": "204", "lastModified": when}}
                          for k, rid, v, when in gone]}

    # ---- HTTP --------------------------------------------------------------------------

    def _token(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        try:
            claims = jwt.decode(form["client_assertion"][0], self.public_key,
                                algorithms=["RS384", "ES384"], audience=self.token_url)
        except (KeyError, jwt.PyJWTError):
            return 401, {"error": "invalid_client"}
        if claims.get("iss") != self.client_id or claims.get("sub") != self.client_id or \
                form.get("grant_type") != ["client_credentials"]:
            return 401, {"error": "invalid_client"}
        token = secrets.token_hex(16)
        self.tokens.add(token)
        return 200, {"access_token": token, "token_type": "bearer",
                     "expires_in": self.token_ttl, "scope": form.get("scope", [""])[0]}

    def _search(self, kind: str, query: dict[str, list[str]]) -> dict[str, Any]:
        since = query.get("_lastUpdated", ["gt1970-01-01T00:00:00+00:00"])[0]
        after = dt.datetime.fromisoformat(since[2:].replace("Z", "+00:00"))
        newer = (lambda t: t >= after) if since.startswith("ge") else (lambda t: t > after)
        count = int(query.get("_count", ["50"])[0])
        offset = int(query.get("_offset", ["0"])[0])
        with self.lock:
            found = sorted((r for r in self.resources.get(kind, {}).values()
                            if newer(dt.datetime.fromisoformat(r["meta"]["lastUpdated"]))),
                           key=lambda r: r["meta"]["lastUpdated"])
        page = found[offset:offset + count]
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                                  "total": len(found), "link": [],
                                  "entry": [{"resource": r, "fullUrl":
                                             f"{self.base}/{kind}/{r['id']}"} for r in page]}
        if offset + count < len(found):
            nxt = {k: v[0] for k, v in query.items()} | {"_offset": str(offset + count)}
            bundle["link"].append({"relation": "next",
                                   "url": f"{self.base}/{kind}?{urlencode(nxt)}"})
        return bundle if self.bundles is None else self.bundles(kind, bundle)

    def _write(self, method: str, parts: list[str], headers: Any, body: dict[str, Any]
               ) -> tuple[int, dict[str, Any]]:
        kind = parts[0]
        if method == "POST":
            cond = headers.get("If-None-Exist", "")
            if cond.startswith("identifier="):
                system, _, value = cond[len("identifier="):].partition("|")
                for r in self.resources.get(kind, {}).values():
                    ids = r.get("identifier", [])  # a list, or one (QuestionnaireResponse)
                    if any(i.get("system") == system and i.get("value") == value
                           for i in ([ids] if isinstance(ids, dict) else ids)):
                        return 200, r
            body.pop("id", None)
            return 201, self.put(body)
        current = self.resources.get(kind, {}).get(parts[1])
        match = headers.get("If-Match")
        if current is not None and match and match != f'W/"{current["meta"]["versionId"]}"':
            return 412, {"resourceType": "OperationOutcome"}
        body["id"] = parts[1]
        return (200 if current else 201), self.put(body)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any],
                      extra: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                # Logged before the answer goes out: a client that has its answer finds
                # the request in the log (was: a race with the test's assertions).
                server.log.append((self.command, self.path.split("?")[0], status))
                self.send_response(status)
                self.send_header("Content-Type", "application/fhir+json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (extra or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)
                if server.notify is not None:
                    server.notify()

            def _body(self) -> bytes:
                return self.rfile.read(int(self.headers.get("Content-Length", 0)))

            def _route(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/token":
                    self._send(*server._token(parse_qs(self._body().decode())))
                    return
                auth = self.headers.get("Authorization", "")
                server.authorizations.append(auth)
                if auth.removeprefix("Bearer ") not in server.tokens:
                    self._send(401, {"resourceType": "OperationOutcome"})
                    return
                if server.rate_limit > 0:
                    server.rate_limit -= 1
                    self._send(server.limit_status, {"resourceType": "OperationOutcome"},
                               {"Retry-After": server.retry_after})
                    return
                parts = url.path.removeprefix("/fhir/").split("/")
                if self.command == "GET" and parts[1:] == ["_history"]:
                    if server.history:
                        self._send(200, server._history(parts[0], parse_qs(url.query)))
                    else:
                        self._send(404, {"resourceType": "OperationOutcome"})
                elif self.command == "DELETE":
                    server.delete(parts[0], parts[1])
                    self._send(204, {})
                elif self.command == "GET" and len(parts) == 1:
                    self._send(200, server._search(parts[0], parse_qs(url.query)))
                elif self.command == "GET":
                    found = server.resources.get(parts[0], {}).get(parts[1])
                    if found is None:
                        self._send(404, {"resourceType": "OperationOutcome"})
                    else:
                        self._send(200, found,
                                   {"ETag": f'W/"{found["meta"]["versionId"]}"'})
                else:
                    body = json.loads(self._body() or b"{}")
                    self._send(*server._write(self.command, parts, self.headers, body))

            do_GET = do_POST = do_PUT = do_DELETE = _route

        return Handler
