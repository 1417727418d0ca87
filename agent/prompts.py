"""Which prompts a call may synthesise ahead, and where their audio may be kept.

A prompt filled only from the organisation's own details is the same for every caller:
its audio is cached on disk and shared. One filled from a patient's record identifies
someone (even a first name does): its audio stays in memory for that call. Ahead of
need, a call synthesises both kinds one prompt at a time, only while nothing is being
synthesised live, so a prompt the caller is waiting for never queues behind them.

A call slowed by its caller says every prompt at another pace, each a recording of its own:
:class:`PreparedAhead` prepares them again at that pace (not for every call: most callers
never ask, and it would double each call's work ahead and the disk cache).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from agent.workflow.asides import PHI_PROMPTS, QUESTION_PROMPTS
from agent.workflow.defaults import DEFAULT_PROMPTS
from agent.workflow.model import Prompt, Workflow
from agent.workflow.template import fields, render

_FIELD = re.compile(r"\{[^{}]*\}")


class Preparer(Protocol):
    async def prepare(self, texts: list[str], *, persist: bool = True, pace: float = 1.0
                      ) -> int: ...


# Template fields that carry no PHI: a prompt using only these may be cached on disk.
_PLAIN_FIELDS = frozenset({"org_name", "callback_number", "queue_name", "clinic"})


async def prepare_ahead(tts: Preparer, plain: list[str], personal: list[str],
                        idle: asyncio.Event, *, pace: float = 1.0) -> None:
    """Synthesise ahead, one prompt at a time, only while nothing is synthesised live."""
    for texts, persist in ((personal, False), (plain, True)):  # PHI: memory only
        for text in texts:
            await idle.wait()
            await tts.prepare([text], persist=persist, pace=pace)


class PreparedAhead:
    """One call's prompts prepared ahead at the pace the call is said at (a task of the
    call's group): :meth:`follow` the pace, :meth:`stop` at the end of the call."""

    def __init__(self, tts: Preparer, plain: list[str], personal: list[str],
                 idle: asyncio.Event, tasks: asyncio.TaskGroup) -> None:
        self._args = (tts, plain, personal, idle)
        self._tasks = tasks
        self._pace: float | None = None
        self._task: asyncio.Task[None] | None = None

    def follow(self, pace: float) -> None:
        """Prepare at ``pace`` from now on (a change drops what is left at the old one)."""
        if pace == self._pace:
            return
        self._pace = pace
        if self._task is not None:
            self._task.cancel()
        self._task = self._tasks.create_task(prepare_ahead(*self._args, pace=pace))

    async def settled(self) -> None:
        """Until everything is prepared at the current pace (or that was stopped)."""
        if self._task is not None:
            await asyncio.wait([self._task])

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
        await self.settled()


def fixed_prompts(workflow: Workflow, record: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """Prompts whose text is known before the call, split into PHI-free ones (cached on
    disk, shared by every call) and ones filled from the patient's record (memory only).
    The engine's built-in prompts a workflow does not override count too when they carry
    no PHI: the opt-out goodbye, "take your time", the answer to "are you a robot?" were
    synthesised only when said, with the caller waiting."""
    plain: list[str] = []
    personal: list[str] = []
    built_in = [Prompt(pid, text, phi=False, line=0)
                for pid, text in {**QUESTION_PROMPTS, **DEFAULT_PROMPTS}.items()
                if pid not in workflow.prompts and pid not in PHI_PROMPTS]
    for prompt in [*workflow.prompts.values(), *built_in]:
        try:
            text = render(prompt.text, record)
        except (KeyError, ValueError, AttributeError):
            continue  # depends on an answer from this call; synthesised when needed
        (personal if is_personal(prompt) else plain).append(text)
    return plain, personal


def is_personal(prompt: Prompt) -> bool:
    """A prompt filled from anything but the organisation's own details identifies someone
    (even a first name does), so its audio is never written to disk."""
    used = {f.split(".")[0] for f in fields(prompt.text)}
    return bool(prompt.phi or used - _PLAIN_FIELDS)


def prompt_literals(texts: Iterable[str]) -> list[str]:
    """The organisation's own words in prompt templates: what is between the fields, of
    three words or more. Never PHI: the redactor keeps them readable in the agent's turns
    (the examples a prompt gives, "for example, March fifth, nineteen eighty", were
    redacted as a date of birth)."""
    out: list[str] = []
    for text in texts:
        out += [part.strip() for part in _FIELD.split(text) if len(part.split()) >= 3]
    return list(dict.fromkeys(out))


def workflow_texts(workflow: Workflow, spanish: Mapping[str, str] | None = None) -> list[str]:
    """Every prompt template a call of ``workflow`` may say: its own, the engine's
    built-in ones, and their Spanish overlays."""
    return [*(p.text for p in workflow.prompts.values()), *QUESTION_PROMPTS.values(),
            *DEFAULT_PROMPTS.values(), *(spanish or {}).values()]
