"""The INVITE session (dialog usage) as tables, like the transactions.

`UAC_TABLE` and `UAS_TABLE` map `(SessionState, Input) -> (SessionState, effects)`.
`transition(role, state, input)` looks a row up and raises `LocalProtocolError` for any
pair the table lacks: a local call the state does not allow (answering twice, a
re-INVITE before the call is up), or an input our own routing should never produce.
Every input the peer or a timer can cause has a row in every state (a test checks
it), so nothing from the wire reaches the raise.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable

from carrier.sip.errors import LocalProtocolError
from carrier.sip.session_api import SessionState


class Input(enum.Enum):
    # Responses to our initial INVITE (RFC 3261 13.2.2).
    RECV_100 = "recv 100"
    RECV_1XX = "recv 101-199"
    RECV_2XX = "recv 2xx"
    RECV_2XX_AGAIN = "recv retransmitted 2xx"  # 13.2.2.4: ACK it again
    RECV_2XX_FORK = "recv 2xx of another fork"  # 13.2.2.4: ACK, then BYE it
    RECV_CHALLENGE = "recv 401/407 we can answer"  # 22.2
    RECV_422 = "recv 422 with Min-SE"  # RFC 4028 sec 6
    RECV_FAILURE = "recv 300-699"
    INVITE_TIMEOUT = "INVITE timed out"  # Timer B, or a transport error (8.1.3.1)
    TIMER_CANCEL = "no final answer 64*T1 after CANCEL"  # 9.1
    # The UAS side of the initial INVITE (13.3).
    RECV_CANCEL = "recv CANCEL"  # 9.2
    RECV_ACK = "recv ACK for our 2xx"
    TIMER_2XX = "retransmit 2xx"  # 13.3.1.4: T1, doubling up to T2
    TIMER_ACK = "no ACK 64*T1 after our 2xx"  # 13.3.1.4: confirm, then BYE
    # Requests inside the dialog (12.2.2, 15.1.2), after the checks of on_request.
    RECV_BYE = "recv BYE"
    RECV_REINVITE = "recv re-INVITE"
    RECV_UPDATE = "recv UPDATE"  # RFC 3311
    RECV_INFO = "recv INFO"  # RFC 6086
    RECV_REFER = "recv REFER"  # RFC 3515
    RECV_NOTIFY = "recv NOTIFY"
    RECV_REQUEST = "recv other in-dialog request"
    RECV_STALE_CSEQ = "recv request with a lower CSeq"  # 12.2.2: 500
    RECV_FOREIGN_SOURCE = "recv request from outside the dialog's peers"  # 403
    RECV_NO_DIALOG = "recv request before the dialog exists"  # 481
    # Final responses to our in-dialog requests (12.2.1.2, 14.1).
    RECV_REINVITE_2XX = "recv 2xx to our re-INVITE"
    RECV_UPDATE_2XX = "recv 2xx to our UPDATE"
    RECV_DIALOG_GONE = "recv 408/481 or timeout for an in-dialog request"
    RECV_REQUEST_CHALLENGE = "recv 401/407 to an in-dialog request we can answer"
    RECV_RESULT = "recv other final response to an in-dialog request"
    # Session timers (RFC 4028 sec 10).
    TIMER_REFRESH = "session refresh due"
    TIMER_EXPIRES = "session expired"
    # Local actions of the application.
    SEND_1XX = "send 1xx"
    SEND_2XX = "send 2xx"
    SEND_FAILURE = "send 300-699"
    SEND_CANCEL = "send CANCEL"
    SEND_BYE = "hang up"
    SEND_REINVITE = "send re-INVITE"
    SEND_IN_DIALOG = "send UPDATE/INFO/REFER/NOTIFY"
    SEND_ANSWER = "answer a received re-INVITE/UPDATE"


class Effect(enum.Enum):
    PROGRESS = enum.auto()  # read a 1xx: early dialog, early SDP, CallProgress
    SEND_CANCEL = enum.auto()
    ACCEPT_2XX = enum.auto()  # make the dialog, ACK, CallAnswered
    ACK_AGAIN = enum.auto()
    DROP_FORK = enum.auto()
    RETRY_INVITE = enum.auto()  # the INVITE again (credentials, Min-SE)
    FAIL = enum.auto()  # CallFailed with the response's status
    FAIL_TIMEOUT = enum.auto()  # CallFailed 408
    FAIL_CANCELLED = enum.auto()  # CallFailed 487
    ABANDON_INVITE = enum.auto()
    ARM_ABANDON = enum.auto()  # give the open INVITE up 64*T1 from now
    SEND_PROVISIONAL = enum.auto()
    SEND_ANSWER = enum.auto()  # 2xx, retransmitted until the ACK
    SEND_REJECT = enum.auto()
    REJECT_480 = enum.auto()  # hang up before answering
    REJECT_487 = enum.auto()  # the INVITE ends unanswered (CANCEL, BYE)
    CANCELLED = enum.auto()  # CallCancelled
    CONFIRM = enum.auto()  # the ACK: CallConfirmed, session timer starts
    ACK_REOFFER = enum.auto()  # the ACK of a re-INVITE's 2xx
    RETRANSMIT_2XX = enum.auto()
    FORGET_2XX = enum.auto()
    SEND_BYE = enum.auto()
    END = enum.auto()  # answer what is pending, stop timers, host forgets us
    ENDED_BYE_RECEIVED = enum.auto()
    ENDED_BYE_SENT = enum.auto()
    ENDED_NO_ACK = enum.auto()
    ENDED_EXPIRED = enum.auto()
    REPLY_200 = enum.auto()
    REPLY_403 = enum.auto()
    REPLY_481 = enum.auto()
    REPLY_500 = enum.auto()
    OFFER_RECEIVED = enum.auto()  # re-INVITE: 491 on glare, else ReInviteReceived
    UPDATE_RECEIVED = enum.auto()
    INFO_RECEIVED = enum.auto()
    REFER_RECEIVED = enum.auto()
    NOTIFY_RECEIVED = enum.auto()
    SEND_REINVITE = enum.auto()
    SEND_IN_DIALOG = enum.auto()
    ANSWER_OFFER = enum.auto()
    REOFFER_ACCEPTED = enum.auto()  # 2xx to our re-INVITE: target, SDP, ACK
    UPDATE_ACCEPTED = enum.auto()
    RETRY_REQUEST = enum.auto()
    RESULT = enum.auto()  # RequestResult
    REFRESH_SESSION = enum.auto()


S, In, E = SessionState, Input, Effect
Row = tuple[SessionState, tuple[Effect, ...]]
Table = dict[tuple[SessionState, Input], Row]
SAME = None  # "stay in the state of the row" in the helpers below

UAC_STATES = (S.INITIAL, S.PROCEEDING, S.EARLY, S.CANCEL_PENDING, S.CANCELLING, S.CONFIRMED,
              S.TERMINATED)  # fmt: skip
UAS_STATES = (S.INITIAL, S.EARLY, S.ANSWERED, S.CONFIRMED, S.TERMINATED)
UAC_SETUP = (S.INITIAL, S.PROCEEDING, S.EARLY)
UAC_CANCEL = (S.CANCEL_PENDING, S.CANCELLING)
UAS_SETUP = (S.INITIAL, S.EARLY)

HANG_UP = (E.SEND_BYE, E.END, E.ENDED_BYE_SENT)

# Inputs the peer or a timer causes, per role: each has a row in every state.
UAC_REMOTE = frozenset(
    {In.RECV_100, In.RECV_1XX, In.RECV_2XX, In.RECV_2XX_AGAIN, In.RECV_2XX_FORK,
     In.RECV_CHALLENGE, In.RECV_422, In.RECV_FAILURE, In.INVITE_TIMEOUT, In.TIMER_CANCEL}
)  # fmt: skip
DIALOG_REMOTE = frozenset(
    {In.RECV_ACK, In.TIMER_2XX, In.TIMER_ACK, In.RECV_BYE, In.RECV_REINVITE, In.RECV_UPDATE,
     In.RECV_INFO, In.RECV_REFER, In.RECV_NOTIFY, In.RECV_REQUEST, In.RECV_STALE_CSEQ,
     In.RECV_FOREIGN_SOURCE, In.RECV_NO_DIALOG, In.RECV_REINVITE_2XX, In.RECV_UPDATE_2XX,
     In.RECV_DIALOG_GONE, In.RECV_REQUEST_CHALLENGE, In.RECV_RESULT, In.TIMER_REFRESH,
     In.TIMER_EXPIRES}
)  # fmt: skip
REMOTE = {"uac": UAC_REMOTE | DIALOG_REMOTE, "uas": DIALOG_REMOTE | {In.RECV_CANCEL}}


def _rows(states: Iterable[SessionState], event: Input, to: SessionState | None,
          *effects: Effect) -> Table:  # fmt: skip
    return {(state, event): (state if to is SAME else to, effects) for state in states}


def _dialog_rows(live: tuple[SessionState, ...]) -> Table:
    """RFC 3261 12.2.2 (requests inside a dialog), 12.2.1.2 (their responses), RFC 4028
    sec 10 (session timers): the same in every live state of either role."""
    table: Table = {}
    for event, effect in (
        (In.RECV_REINVITE, E.OFFER_RECEIVED), (In.RECV_UPDATE, E.UPDATE_RECEIVED),
        (In.RECV_INFO, E.INFO_RECEIVED), (In.RECV_REFER, E.REFER_RECEIVED),
        (In.RECV_NOTIFY, E.NOTIFY_RECEIVED), (In.RECV_REQUEST, E.REPLY_200),
        (In.RECV_STALE_CSEQ, E.REPLY_500), (In.RECV_FOREIGN_SOURCE, E.REPLY_403),
        (In.RECV_NO_DIALOG, E.REPLY_481), (In.TIMER_2XX, E.RETRANSMIT_2XX),
        (In.RECV_REQUEST_CHALLENGE, E.RETRY_REQUEST),
        (In.SEND_IN_DIALOG, E.SEND_IN_DIALOG), (In.SEND_ANSWER, E.ANSWER_OFFER),
    ):  # fmt: skip
        table |= _rows(live, event, SAME, effect)
    table |= _rows(live, In.RECV_REINVITE_2XX, SAME, E.REOFFER_ACCEPTED, E.RESULT)
    table |= _rows(live, In.RECV_UPDATE_2XX, SAME, E.UPDATE_ACCEPTED, E.RESULT)
    table |= _rows(live, In.RECV_RESULT, SAME, E.RESULT)
    table |= _rows(live, In.TIMER_REFRESH, SAME)
    table |= _rows(live, In.TIMER_EXPIRES, SAME)
    table |= _rows((*live, S.TERMINATED), In.TIMER_CANCEL, SAME, E.ABANDON_INVITE)
    # A request reaching a session that ended (it raced the end) finds no dialog.
    for event in (In.RECV_BYE, In.RECV_REINVITE, In.RECV_UPDATE, In.RECV_INFO,
                  In.RECV_REFER, In.RECV_NOTIFY, In.RECV_REQUEST, In.RECV_STALE_CSEQ,
                  In.RECV_NO_DIALOG):  # fmt: skip
        table |= _rows((S.TERMINATED,), event, SAME, E.REPLY_481)
    table |= _rows((S.TERMINATED,), In.RECV_FOREIGN_SOURCE, SAME, E.REPLY_403)
    for event in (In.RECV_ACK, In.TIMER_2XX, In.TIMER_ACK, In.TIMER_REFRESH, In.TIMER_EXPIRES):
        table |= _rows((S.TERMINATED,), event, SAME)
    # Our BYE challenged (RFC 3261 22.2): sent again with credentials, or the peer's
    # side of the dialog stays up.
    table |= _rows((S.TERMINATED,), In.RECV_REQUEST_CHALLENGE, SAME, E.RETRY_REQUEST)
    table |= _rows((S.TERMINATED,), In.RECV_REINVITE_2XX, SAME, E.REOFFER_ACCEPTED, E.RESULT)
    table |= _rows((S.TERMINATED,), In.RECV_UPDATE_2XX, SAME, E.RESULT)
    table |= _rows((S.TERMINATED,), In.RECV_RESULT, SAME, E.RESULT)
    table |= _rows((S.TERMINATED,), In.RECV_DIALOG_GONE, SAME, E.RESULT)
    # The peer's end (15.1.2) and RFC 4028 sec 10 in a confirmed dialog.
    table |= _rows((S.CONFIRMED,), In.RECV_BYE, S.TERMINATED,
                   E.REPLY_200, E.END, E.ENDED_BYE_RECEIVED)  # fmt: skip
    table |= _rows((S.CONFIRMED,), In.TIMER_REFRESH, SAME, E.REFRESH_SESSION)
    table |= _rows((S.CONFIRMED,), In.TIMER_EXPIRES, S.TERMINATED,
                   E.SEND_BYE, E.END, E.ENDED_EXPIRED)  # fmt: skip
    table |= _rows((S.CONFIRMED,), In.SEND_REINVITE, SAME, E.SEND_REINVITE)
    table |= _rows((S.CONFIRMED,), In.SEND_BYE, S.TERMINATED, *HANG_UP)
    table |= _rows((S.CONFIRMED,), In.RECV_DIALOG_GONE, S.TERMINATED, E.RESULT, *HANG_UP)
    # 13.3.1.4: the ACK of a re-INVITE's 2xx, and giving up on it (the call stays).
    table |= _rows(tuple(s for s in live if s is not S.ANSWERED), In.RECV_ACK, SAME,
                   E.ACK_REOFFER)  # fmt: skip
    table |= _rows(tuple(s for s in live if s is not S.ANSWERED), In.TIMER_ACK, SAME,
                   E.FORGET_2XX)  # fmt: skip
    table |= _rows((S.TERMINATED,), In.SEND_BYE, SAME)
    return table


# RFC 3261 13.2 (UAC processing of the INVITE), 9.1 (CANCEL), 12.1.2 (the dialog it makes).
UAC_TABLE: Table = {
    **_dialog_rows((*UAC_SETUP, *UAC_CANCEL, S.CONFIRMED)),
    **_rows((S.INITIAL,), In.RECV_100, S.PROCEEDING),
    **_rows((S.PROCEEDING, S.EARLY, S.CANCELLING, S.CONFIRMED, S.TERMINATED), In.RECV_100, SAME),
    **_rows((S.CANCEL_PENDING,), In.RECV_100, S.CANCELLING, E.SEND_CANCEL),
    **_rows(UAC_SETUP, In.RECV_1XX, S.EARLY, E.PROGRESS),
    **_rows((S.CANCEL_PENDING,), In.RECV_1XX, S.CANCELLING, E.SEND_CANCEL, E.PROGRESS),
    **_rows((S.CANCELLING,), In.RECV_1XX, SAME, E.PROGRESS),
    **_rows((S.CONFIRMED, S.TERMINATED), In.RECV_1XX, SAME),
    **_rows(UAC_SETUP, In.RECV_2XX, S.CONFIRMED, E.ACCEPT_2XX),
    # CANCEL lost the race with the 2xx (9.1): the call is up, so hang it up.
    **_rows(UAC_CANCEL, In.RECV_2XX, S.TERMINATED, E.ACCEPT_2XX, *HANG_UP),
    **_rows((S.CONFIRMED, S.TERMINATED), In.RECV_2XX, SAME),
    **_rows(UAC_STATES, In.RECV_2XX_AGAIN, SAME, E.ACK_AGAIN),
    **_rows(UAC_STATES, In.RECV_2XX_FORK, SAME, E.DROP_FORK),
    **_rows(UAC_SETUP, In.RECV_CHALLENGE, S.INITIAL, E.RETRY_INVITE),
    **_rows(UAC_SETUP, In.RECV_422, S.INITIAL, E.RETRY_INVITE),
    **_rows((*UAC_SETUP, *UAC_CANCEL), In.RECV_FAILURE, S.TERMINATED, E.FAIL, E.END),
    **_rows(UAC_CANCEL, In.RECV_CHALLENGE, S.TERMINATED, E.FAIL, E.END),
    **_rows(UAC_CANCEL, In.RECV_422, S.TERMINATED, E.FAIL, E.END),
    **_rows((*UAC_SETUP, *UAC_CANCEL), In.INVITE_TIMEOUT, S.TERMINATED, E.FAIL_TIMEOUT, E.END),
    **_rows((S.CONFIRMED, S.TERMINATED), In.RECV_CHALLENGE, SAME),
    **_rows((S.CONFIRMED, S.TERMINATED), In.RECV_422, SAME),
    **_rows((S.CONFIRMED, S.TERMINATED), In.RECV_FAILURE, SAME),
    **_rows((S.CONFIRMED, S.TERMINATED), In.INVITE_TIMEOUT, SAME),
    **_rows((*UAC_SETUP, *UAC_CANCEL), In.TIMER_CANCEL, S.TERMINATED,
            E.ABANDON_INVITE, E.FAIL_CANCELLED, E.END),
    # A BYE in the early dialog ends it; the INVITE is given up 64*T1 later.
    **_rows((*UAC_SETUP, S.CANCEL_PENDING), In.RECV_BYE, S.TERMINATED,
            E.REPLY_200, E.ARM_ABANDON, E.END, E.ENDED_BYE_RECEIVED),
    **_rows((S.CANCELLING,), In.RECV_BYE, S.TERMINATED,
            E.REPLY_200, E.END, E.ENDED_BYE_RECEIVED),
    # Hanging up before the answer is a CANCEL, once a provisional came (9.1).
    **_rows((S.INITIAL,), In.SEND_CANCEL, S.CANCEL_PENDING),
    **_rows((S.PROCEEDING, S.EARLY), In.SEND_CANCEL, S.CANCELLING, E.SEND_CANCEL),
    **_rows((*UAC_CANCEL, S.CONFIRMED, S.TERMINATED), In.SEND_CANCEL, SAME),
    **_rows((S.INITIAL,), In.SEND_BYE, S.CANCEL_PENDING),
    **_rows((S.PROCEEDING, S.EARLY), In.SEND_BYE, S.CANCELLING, E.SEND_CANCEL),
    **_rows(UAC_CANCEL, In.SEND_BYE, SAME),
    # 12.2.1.2: a 408/481 to an early in-dialog request ends the attempt.
    **_rows((S.INITIAL,), In.RECV_DIALOG_GONE, S.CANCEL_PENDING, E.RESULT),
    **_rows((S.PROCEEDING, S.EARLY), In.RECV_DIALOG_GONE, S.CANCELLING, E.RESULT, E.SEND_CANCEL),
    **_rows(UAC_CANCEL, In.RECV_DIALOG_GONE, SAME, E.RESULT),
}

# RFC 3261 13.3 (UAS processing of the INVITE), 9.2 (CANCEL), 13.3.1.4 (2xx until ACK).
UAS_TABLE: Table = {
    **_dialog_rows((*UAS_SETUP, S.ANSWERED, S.CONFIRMED)),
    **_rows(UAS_SETUP, In.SEND_1XX, S.EARLY, E.SEND_PROVISIONAL),
    **_rows(UAS_SETUP, In.SEND_2XX, S.ANSWERED, E.SEND_ANSWER),
    **_rows(UAS_SETUP, In.SEND_FAILURE, S.TERMINATED, E.END, E.SEND_REJECT),
    **_rows(UAS_SETUP, In.SEND_BYE, S.TERMINATED, E.END, E.REJECT_480),
    **_rows(UAS_SETUP, In.RECV_CANCEL, S.TERMINATED, E.END, E.REJECT_487, E.CANCELLED),
    **_rows((S.ANSWERED, S.CONFIRMED, S.TERMINATED), In.RECV_CANCEL, SAME),
    **_rows(UAS_SETUP, In.RECV_BYE, S.TERMINATED,
            E.REPLY_200, E.REJECT_487, E.END, E.ENDED_BYE_RECEIVED),
    **_rows((S.ANSWERED,), In.RECV_BYE, S.TERMINATED, E.REPLY_200, E.END, E.ENDED_BYE_RECEIVED),
    **_rows((S.ANSWERED,), In.RECV_ACK, S.CONFIRMED, E.CONFIRM),
    # 13.3.1.4: no ACK within 64*T1 of our 2xx: the dialog is confirmed, then ended by BYE.
    **_rows((S.ANSWERED,), In.TIMER_ACK, S.TERMINATED, E.SEND_BYE, E.END, E.ENDED_NO_ACK),
    **_rows((S.ANSWERED,), In.SEND_BYE, S.TERMINATED, *HANG_UP),
    **_rows((S.ANSWERED,), In.RECV_DIALOG_GONE, S.TERMINATED, E.RESULT, *HANG_UP),
    **_rows(UAS_SETUP, In.RECV_DIALOG_GONE, S.TERMINATED, E.RESULT, E.END, E.REJECT_480),
}

TABLES = {"uac": UAC_TABLE, "uas": UAS_TABLE}
STATES = {"uac": UAC_STATES, "uas": UAS_STATES}


def transition(role: str, state: SessionState, event: Input) -> Row:
    """The row for `event` in `state`; raises LocalProtocolError when there is none."""
    row = TABLES[role].get((state, event))
    if row is None:
        raise LocalProtocolError(f"{event.value} is not allowed in {state.value} ({role})")
    return row
