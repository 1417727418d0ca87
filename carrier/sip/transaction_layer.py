"""The transaction layer (RFC 3261 sec 17.1.3 / 17.2.3), sans-IO: every live
transaction of one endpoint, matched by key, with one timer heap.

`TransactionLayer.receive(msg, source, reliable=..., now=...)` returns `LayerEvent`s:
the actions of the matched transaction, a `NewRequest` for the transaction user, or a
`StrayResponse` (e.g. a retransmitted 2xx to INVITE after the transaction ended).
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

from carrier.sip.errors import LocalProtocolError
from carrier.sip.message import Request, Response
from carrier.sip.transaction import (
    Action,
    Address,
    State,
    Timers,
    Transaction,
    client_key,
    new_client,
    new_server,
    server_key,
)


@dataclass(frozen=True)
class NewRequest:
    """A request that matched no transaction. `key` names the server transaction
    created for it (None for an ACK, which never gets one)."""

    request: Request
    source: Address
    key: str | None


@dataclass(frozen=True)
class StrayResponse:
    """A response matching no client transaction (e.g. a retransmitted 2xx to INVITE)."""

    response: Response
    source: Address


LayerEvent = Action | NewRequest | StrayResponse


class TransactionLayer:
    """All live transactions of one endpoint, matched by key; sans-IO like its members."""

    def __init__(self, timers: Timers | None = None) -> None:
        self.timers = timers or Timers()
        self._tx: dict[str, Transaction] = {}
        # (due, seq, key): a lazy heap, stale entries are skipped when they surface.
        self._heap: list[tuple[float, int, str]] = []
        self._seq = 0
        self.reaped: list[str] = []  # keys of ended transactions, for the user to drain

    def __len__(self) -> int:
        return len(self._tx)

    def get(self, key: str) -> Transaction | None:
        return self._tx.get(key)

    def send_request(
        self, request: Request, dest: Address, *, reliable: bool, now: float
    ) -> tuple[Transaction, list[Action]]:
        tx = new_client(request, dest, reliable=reliable, timers=self.timers)
        if tx.key in self._tx:
            raise LocalProtocolError("branch already in use")
        self._tx[tx.key] = tx
        return tx, self._reap(tx, tx.start(now))

    def send_response(self, key: str, response: Response, now: float) -> list[Action]:
        tx = self._tx.get(key)
        if tx is None:
            raise LocalProtocolError("no such server transaction")
        return self._reap(tx, tx.send_response(response, now))

    def receive(
        self, msg: Request | Response, source: Address, *, reliable: bool, now: float
    ) -> list[LayerEvent]:
        if isinstance(msg, Response):
            branch = msg.via.branch or ""
            tx = self._tx.get(client_key(branch, msg.cseq.method))
            if tx is None:
                return [StrayResponse(msg, source)]
            return list(self._reap(tx, tx.receive_response(msg, now)))
        key = server_key(msg)
        tx = self._tx.get(key)
        if tx is not None:
            return list(self._reap(tx, tx.receive_request(msg, now)))
        if msg.method == "ACK":
            return [NewRequest(msg, source, None)]
        tx = new_server(msg, source, reliable=reliable, timers=self.timers)
        self._tx[key] = tx
        self._schedule(tx)
        return [NewRequest(msg, source, key)]

    def abandon(self, key: str) -> None:
        """Drop a transaction the TU gives up on (RFC 3261 9.1: no final 64*T1 after CANCEL)."""
        tx = self._tx.pop(key, None)
        if tx is not None:
            tx.state = State.TERMINATED
            self.reaped.append(key)

    def invite_for_cancel(self, cancel: Request) -> Transaction | None:
        """The INVITE server transaction a CANCEL refers to (RFC 3261 9.2)."""
        key = server_key(cancel).rsplit("|", 1)[0] + "|INVITE"
        return self._tx.get(key)

    def transport_error(self, key: str, now: float) -> list[Action]:
        tx = self._tx.get(key)
        return [] if tx is None else self._reap(tx, tx.transport_error(now))

    @property
    def next_timer(self) -> float | None:
        heap = self._heap
        while heap:
            due, _, key = heap[0]
            tx = self._tx.get(key)
            if tx is not None and tx.next_timer == due:
                return due
            heapq.heappop(heap)
        return None

    def handle_timer(self, now: float) -> list[Action]:
        actions: list[Action] = []
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, key = heapq.heappop(heap)
            tx = self._tx.get(key)
            if tx is None or tx.next_timer != due:
                continue
            actions += self._reap(tx, tx.handle_timer(now))
        return actions

    def _schedule(self, tx: Transaction) -> None:
        due = tx.next_timer
        if due is not None:
            self._seq += 1
            heapq.heappush(self._heap, (due, self._seq, tx.key))

    def _reap(self, tx: Transaction, actions: list[Action]) -> list[Action]:
        if tx.terminated:
            if self._tx.pop(tx.key, None) is not None:
                self.reaped.append(tx.key)
        else:
            self._schedule(tx)
        return actions
