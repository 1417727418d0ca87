"""The operator console and its HTTP API (issue 15): an ASGI app (FastAPI on uvicorn) that
``carrier serve`` runs inside its own event loop on ``console.bind_host:console.port``.

* :mod:`carrier.console.app`: ``build_app(ConsoleContext) -> FastAPI``: ``/api/v1`` (the
  JSON API, OpenAPI at ``/api/openapi.json``), ``/health``, ``/metrics``, ``/static``, the
  sign-in forms, and the HTML pages (``carrier.console.pages``) when present.
* :mod:`carrier.console.auth`: roles, sessions, sign-in with password and TOTP, CSRF, and
  the FastAPI dependencies that enforce roles on every route.
* :mod:`carrier.console.server`: the uvicorn server and the loopback TLS certificate.

The console reads and acts through the records facade, the dialer's campaign store and a
read-only registry of live calls; it has no SQL of its own.
"""
