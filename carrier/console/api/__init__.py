"""The ``/api/v1`` routers, one module per area; every route declares its roles with
:func:`carrier.console.auth.require` (``tests/console/test_roles.py``: endpoint x role)."""

from __future__ import annotations

from fastapi import APIRouter

from carrier.console.api import admin, audit, calls, campaigns, compliance, patients, tasks

router = APIRouter()
for module in (patients, tasks, compliance, campaigns, audit, calls, admin):
    router.include_router(module.router)
