"""What every API module shares: the context, the PHI-view reason, error responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request

from carrier.console.problems import PROBLEM_SCHEMA

ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA, 503: PROBLEM_SCHEMA}
NOT_FOUND: dict[int | str, dict[str, Any]] = {**ERRORS, 404: PROBLEM_SCHEMA}

Reason = Annotated[str, Query(
    min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
    description="Why the operator looks at PHI; written to the audit log with who and what")]
"""The *why* of a PHI view (HIPAA 164.312(b)); pages pass what the operator is doing."""


def context(request: Request) -> Any:
    """The :class:`carrier.console.app.ConsoleContext` of this app."""
    return request.app.state.console
