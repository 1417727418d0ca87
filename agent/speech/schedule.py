"""Which waiting utterances a free speech worker decodes next, and together (sans-IO).

Shortest first, with aging: a job's priority is its encoder window (seconds) minus
``aging`` times the seconds it has waited, so short answers ("yes", a digit) overtake a
long utterance, and a long one still goes once it has waited long enough (with the
default aging of 2, a 10 s utterance that waited 3.5 s goes before a fresh 3 s one).

A batch is the most urgent job plus the next most urgent ones whose windows are alike
(the batch shares the longest window, so a 10 s utterance does not make eight short ones
pay for its window), within ``max_batch`` jobs, ``max_window_s`` window-seconds in all
(the encoder's cost is about jobs x window) and a fair share of the queue per worker.

Jobs of different ``kind`` never share a batch: a worker answers its batch at once, so a
quick model's "yes" batched with an utterance for the base model waited for base's
decode (two to three times tiny's here).

A ``solo`` job (the careful second pass: a 30 s window, beam search, about 0.8 s of a
core) goes in a batch of its own: a worker answers its whole batch at once, so short
answers batched with it waited for its decode before.

Pure: no clock, no asyncio. ``now`` comes from the caller.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Job:
    key: int
    window_s: float
    enqueued: float
    solo: bool = False
    kind: str = ""

    def priority(self, now: float, aging: float) -> float:
        return self.window_s - aging * (now - self.enqueued)


class BatchScheduler:
    def __init__(self, max_batch: int = 8, *, aging: float = 2.0,
                 max_window_s: float = 24.0) -> None:
        if max_batch < 1 or aging < 0 or max_window_s <= 0:
            raise ValueError("max_batch >= 1, aging >= 0 and max_window_s > 0 are required")
        self.max_batch = max_batch
        self.aging = aging
        self.max_window_s = max_window_s
        self._jobs: dict[int, Job] = {}

    def __len__(self) -> int:
        return len(self._jobs)

    def add(self, key: int, window_s: float, now: float, *, solo: bool = False,
            kind: str = "") -> None:
        if key in self._jobs:
            raise ValueError(f"job {key} is already queued")
        self._jobs[key] = Job(key, window_s, now, solo, kind)

    def remove(self, key: int) -> bool:
        """Forget a queued job (its caller stopped waiting). False if it was not queued."""
        return self._jobs.pop(key, None) is not None

    def take(self, now: float, workers: int = 1) -> list[int]:
        """The keys of the next batch, most urgent first (empty when nothing waits), all
        of one kind.

        With ``workers`` free workers (the caller counts only those: a busy one may hold
        a date of birth for another 300 ms), a batch takes at most its share of the
        queue, and the next free worker takes the rest. For base on a CPU a batch of n
        costs about n single decodes (the encoder dominates: a date of birth 319 ms of
        a core alone, 278 each in four), so a worker that took all four would answer
        them all when two workers taking two each answer them in half the time; for the
        quick model in its 3 s window the decoder's steps dominate and a batch is
        cheaper (a "Yes." 93 ms alone, 56 each in four: AMD EPYC, one thread).
        """
        if not self._jobs:
            return []
        size = min(self.max_batch, -(-len(self._jobs) // max(1, workers)))
        order = sorted(self._jobs.values(),
                       key=lambda j: (j.priority(now, self.aging), j.enqueued, j.key))
        head = order[0]
        batch = [head]
        width = head.window_s
        for job in order[1:]:
            if len(batch) >= size or head.solo:
                break
            if job.solo or job.kind != head.kind or not _alike(job.window_s, head.window_s):
                continue
            wider = max(width, job.window_s)
            if wider * (len(batch) + 1) > self.max_window_s:
                continue
            batch.append(job)
            width = wider
        for job in batch:
            del self._jobs[job.key]
        return [job.key for job in batch]


def _alike(window_s: float, head_s: float) -> bool:
    """Windows close enough to share one encoder pass: within 1 s or half the head's."""
    return abs(window_s - head_s) <= max(1.0, 0.5 * head_s)
