"""An in-memory network joining sans-IO user agents, with a hand-driven clock."""

from __future__ import annotations

import itertools
from collections.abc import Callable

from carrier.sip.transaction import SendData
from carrier.sip.ua import Out, UaConfig, UserAgent


def make_ua(host: str, port: int, **kw: object) -> UserAgent:
    counter = itertools.count(1)
    config = UaConfig(contacts={"UDP": (host, port)}, user=f"ua{port}")
    return UserAgent(config, new_id=lambda: f"{port}x{next(counter)}", **kw)  # type: ignore[arg-type]


class Net:
    def __init__(self, *uas: UserAgent) -> None:
        self.uas = {ua.config.contacts["UDP"]: ua for ua in uas}
        self.now = 0.0
        self.events: dict[UserAgent, list[object]] = {ua: [] for ua in uas}
        self.drop: Callable[[bytes, tuple[str, int]], bool] = lambda data, dest: False
        self.queue: list[tuple[bytes, tuple[str, str, int], UserAgent]] = []
        self.wire: list[bytes] = []

    def send(self, sender: UserAgent, outs: list[Out]) -> None:
        for out in outs:
            if isinstance(out, SendData):
                self.queue.append((out.data, out.dest, sender))
            else:
                self.events[sender].append(out)

    def pump(self) -> None:
        while self.queue:
            data, dest, sender = self.queue.pop(0)
            self.wire.append(data)
            target = self.uas.get((dest[1], dest[2]))
            if target is None or self.drop(data, (dest[1], dest[2])):
                continue
            host, port = sender.config.contacts["UDP"]
            self.send(target, target.receive(data, ("UDP", host, port), now=self.now))

    def advance(self, until: float) -> None:
        """Run every timer of every UA up to `until`, pumping the wire in between."""
        self.pump()
        while True:
            dues = [(ua.next_timer, i, ua) for i, ua in enumerate(self.uas.values())]
            dues = [d for d in dues if d[0] is not None and d[0] <= until]
            if not dues:
                break
            due, _, ua = min(dues)
            self.now = max(self.now, due)
            self.send(ua, ua.handle_timer(self.now))
            self.pump()
        self.now = max(self.now, until)

    def take(self, ua: UserAgent, kind: type) -> list:  # type: ignore[type-arg]
        found = [e for e in self.events[ua] if isinstance(e, kind)]
        self.events[ua] = [e for e in self.events[ua] if not isinstance(e, kind)]
        return found
