"""Why the workflow engine refuses to go on. The host ends the call safely on any of them."""

from __future__ import annotations


class EngineError(Exception):
    """The engine refused to go on; the host ends the call safely."""


class ScopeViolation(EngineError):
    def __init__(self, workflow: str, action: str, missing: frozenset[str]) -> None:
        self.workflow = workflow
        self.action = action
        self.missing = missing
        super().__init__(f"workflow {workflow!r} may not run action {action!r}: "
                         f"scope lacks {', '.join(sorted(missing))}")


class PhiBeforeVerification(EngineError):
    def __init__(self, workflow: str, state: str, prompt_id: str) -> None:
        self.workflow = workflow
        self.state = state
        self.prompt_id = prompt_id
        super().__init__(f"workflow {workflow!r} state {state!r}: prompt {prompt_id!r} "
                         "contains PHI and the caller is not verified")


class HostProtocolError(EngineError):
    """The host fed an input the engine was not waiting for."""
