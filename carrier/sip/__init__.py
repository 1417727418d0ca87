"""Our SIP stack: sans-IO cores with one thin asyncio adapter (STYLE.md).

Layers, bottom up (each pure module takes `now` and returns what to do):

* `message` (+ `uri`, `headers`): `parse_message(bytes) -> Request | Response`,
  `msg.serialize()`, `StreamFramer` for TCP/TLS, `SipParseError.status_code`
  and (`stateless`) `error_response(err)` (400 / 505 / 513..., None when no answer may be sent).
* `transaction`: ICT/NICT/IST/NIST tables, timers A-M; `transaction_layer`: `TransactionLayer`.
* `sdp` (model and parser in `sdp_parse`): `parse_sdp`, `build_offer`, `build_answer`
  -> (`SessionDescription`, `Negotiated`), `accept_answer`; PCMU/PCMA + telephone-event,
  ptime, hold directions, SDES `a=crypto` (G.722 is not negotiated: no codec for it).
* `digest`: `Challenge`, `Credentials`, `authorize`, `DigestServer` (test trunks).
* `dialog`, `session*`, `ua`: `UserAgent` (the UA core; `ua_inbound` answers requests
  outside a dialog) and `InviteSession` (one INVITE dialog, a table like the
  transactions: `session_table`).
* `policy`: `InboundPolicy` (ACL -> 403, concurrent / per-second limits -> 503).
* `refusal`: `RefusalGate` (sources the ACL refuses get a stateless, rate-limited 403)
  and `RefusalLedger` (refusals reported as counted `RefusalSummary`s per source).
* `transport`, `endpoint`: asyncio UDP/TCP/TLS and `SipEndpoint` / `SipCall`.

Starting an endpoint
--------------------
    from carrier.sip.endpoint import EndpointConfig, SipEndpoint, SipCall
    from carrier.sip.policy import InboundPolicy

    config = EndpointConfig(udp=("127.0.0.1", 5060), tcp=("127.0.0.1", 5060),
                            tls=("127.0.0.1", 5061), tls_cert="sip.pem", tls_key="sip.key")
    policy = InboundPolicy.from_strings(["192.0.2.0/24"], max_concurrent=200, max_cps=50)
    endpoint = SipEndpoint(config, on_call=handle_inbound, policy=policy,
                           audit=lambda summary: ...)   # RefusalSummary(source, rule, count..)
    await endpoint.start()          # or `async with SipEndpoint(...) as endpoint:`
    endpoint.port("UDP")            # the bound port (0 in the config picks one)
    await endpoint.close()

`EndpointConfig.advertise` sets the Via/Contact address when binding 0.0.0.0.
Per-trunk admission: `InboundPolicy(trunks=(TrunkRule.from_strings(name, acl,
max_concurrent=..., max_cps=...), ...), max_concurrent=..., max_cps=...)`; a source in
no trunk gets 403; an admitted call carries `call.session.trunk`.

OPTIONS out of dialog are answered 200 (health probe). Malformed requests get their
4xx/505 and the endpoint keeps serving. Responses over UDP go back to the source
address and port (symmetric, RFC 3581 `received`/`rport` are stamped).

Inbound calls
-------------
`on_call(call: SipCall)` runs as a task per call (cancelled at `close()`); the INVITE
has passed the checks (method, URI scheme 416, Require 420, body 415 (`body`: SDP, or
the SDP part of a SIP-I multipart/mixed body, RFC 5621), Accept 406,
Session-Expires 422, policy 403/503) and a 100 Trying is already sent:

    async def handle_inbound(call: SipCall) -> None:
        call.request                 # the INVITE (Request): headers, body (SDP offer)
        call.replaces                # Replaces (RFC 3891) when this is an attended transfer
        answer, negotiated = build_answer(parse_sdp(call.request.body), LocalMedia(...),
                                          session_id=..., version=1, srtp_key=...)
        call.ring()                  # 180; ring(status=183, sdp=...) for early media
        call.answer(answer.serialize())          # 200 + retransmissions until ACK
        # or call.reject(486) / call.reject(403, headers=(("Reason", "..."),))
        event = await call.wait_for(CallConfirmed, timeout=32)
        ...

Calling `answer`/`ring`/`reject` after the call ended (e.g. `CallCancelled` raced)
raises `LocalProtocolError`; a handler that returns without a final answer gets a 500
sent for it.

After `answer`, a caller that never ACKs gets our 200 retransmitted and, 64*T1 later,
a BYE (`CallEnded("ack-timeout")`, RFC 3261 13.3.1.4). In-dialog requests (and CANCEL)
are taken only from the dialog's peers (the address the INVITE came from or went to,
the remote target, the first route) or the call's trunk; others get 403.

Events then arrive on `call.events` (an asyncio.Queue) or via `await call.wait_for(Type,
timeout=...)`: `CallConfirmed`, `CallCancelled`, `CallEnded(reason)`, `ReInviteReceived`
and `UpdateReceived` (answer with `call.respond(event.key, 200, sdp=...)`; a re-INVITE
without a body wants an offer there, answered by `AnswerInAck(sdp)`),
`ReferReceived(target.uri, target.replaces)` (202 already sent; report with
`call.notify_refer(100|200|..., final=...)`), `DtmfReceived(digit)` (SIP INFO),
`RequestResult(method, status)` for requests we sent, `ReferProgress`.
Controls: `call.hangup()` (BYE, or CANCEL/480 before answer), `await call.reinvite(sdp)`
(hold: offer `direction="sendonly"`, resume: "sendrecv"), `await call.refer(target,
replaces=...)`, `call.send_dtmf_info("5")`. Session timers (RFC 4028) run by themselves:
we refresh by UPDATE/re-INVITE when we are the refresher, and hang up
(`CallEnded("session-expired")`) when the peer stops refreshing.

Outbound calls
--------------
    call = endpoint.invite("sip:+15551230000@trunk.example", sdp=offer.serialize(),
                           from_user="+15550001111", from_display="Clinic",
                           headers=(("Identity", identity),),
                           credentials=Credentials(user, password),   # 401/407 retried once
                           proxy="sip:192.0.2.10:5060;transport=tcp")  # the trunk's edge
    try:
        answered = await call.wait_answer(timeout=60)     # CallAnswered (ACK sent)
    except CallFailedError as err:                        # err.status: 486, 487, 408, 503...
        ...
    negotiated = accept_answer(offer, parse_sdp(answered.response.body))
    call.cancel()   # while ringing;  call.hangup() once answered

`await endpoint.options("sip:trunk:5060")` is the keepalive (status or None);
`endpoint.register(Registration(registrar_uri, aor, credentials, expires))` keeps a
registration alive (refresh at half the granted expiry), results through
`on_registration`.

Not done: forked early dialogs are not tracked (a second fork's 2xx is ACKed and
BYEd), 100rel/PRACK (a `Require: 100rel` INVITE gets 420), DNS (NAPTR/SRV; hostnames
are resolved by getaddrinfo off the loop, cached: `names`), G.722. Our session refresh carries
Session-Expires and is sent again after a 491 (glare). Crossing
offers (`session_dialog._crossing`): 491 while ours is out, 500 + Retry-After while
the peer's waits for our answer or our 2xx to an INVITE waits for its ACK. RFC 5626
double-CRLF pings on TCP/TLS are answered; lines may end in a bare LF. Accepted
TCP/TLS connections are capped (`EndpointConfig.stream_limits`: 1024 in all, 64 per
address), idle ones close after `stream_idle_timeout`, a message begun must be whole within 20 s
(`transport.MESSAGE_READ_TIMEOUT`) and a TLS handshake within 10 s. A message nothing can
answer (a malformed response or ACK, no Via...) is counted in `carrier_sip_dropped_total`.
"""
