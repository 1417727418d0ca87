"""What every API module shares: the context, the PHI-view reason, error responses."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from pydantic import AfterValidator

from carrier.console.problems import PROBLEM_SCHEMA
from carrier.records.phi_text import phi_in, refusal

ERRORS: dict[int | str, dict[str, Any]] = {
    401: PROBLEM_SCHEMA, 403: PROBLEM_SCHEMA, 422: PROBLEM_SCHEMA, 503: PROBLEM_SCHEMA}
NOT_FOUND: dict[int | str, dict[str, Any]] = {**ERRORS, 404: PROBLEM_SCHEMA}
LOOKUP: dict[int | str, dict[str, Any]] = {**ERRORS, 429: PROBLEM_SCHEMA}
"""A lookup by phone number: past the operator's hourly budget, 429 (``console.lookups``)."""

def _phi_free(text: str) -> str:
    what = phi_in(text)
    if what is not None:
        raise ValueError(refusal("the text", what))
    return text


PhiFree = AfterValidator(_phi_free)
"""Text kept in clear in the audit log or the consent ledger: refused when it looks like it
holds PHI (:mod:`carrier.records.phi_text`)."""
Reason = Annotated[str, Query(
    min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$",
    description="Why the operator looks at PHI; written to the audit log with who and what"),
    PhiFree]
"""The *why* of a PHI view (HIPAA 164.312(b)); pages pass what the operator is doing."""


def context(request: Request) -> Any:
    """The :class:`carrier.console.app.ConsoleContext` of this app."""
    return request.app.state.console
