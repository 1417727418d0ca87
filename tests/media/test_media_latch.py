"""``SourceLatch`` (strict RTP) on its own: which source a call's audio comes from."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from media.latch import PROBATION, SourceLatch

SIGNALLED = ("192.0.2.1", 4000)
OTHER_HOST = ("203.0.113.9", 4000)

packets = st.lists(
    st.tuples(
        st.sampled_from([SIGNALLED, ("192.0.2.1", 4100), OTHER_HOST, ("203.0.113.9", 5000)]),
        st.integers(0, 3),  # ssrc
        st.integers(0, 0xFFFF),  # seq
    ),
    max_size=200,
)


@given(packets)
def test_another_host_is_never_accepted_nor_answered(
        stream: list[tuple[tuple[str, int], int, int]]) -> None:
    latch = SourceLatch(SIGNALLED)
    for addr, ssrc, seq in stream:
        accepted = latch.accept(addr, ssrc, seq)
        assert not (accepted and addr[0] != SIGNALLED[0])
        assert latch.target is not None
        assert latch.target[0] == SIGNALLED[0]


@given(st.integers(0, 0xFFFF), st.integers(1, 2**32 - 1))
def test_a_run_of_probation_packets_moves_the_latch(first: int, ssrc: int) -> None:
    latch = SourceLatch(SIGNALLED)
    assert latch.accept(SIGNALLED, 1, 10)
    moved = ("192.0.2.1", 4100)
    results = [latch.accept(moved, ssrc, (first + i) & 0xFFFF) for i in range(PROBATION)]
    assert results == [False] * (PROBATION - 1) + [True]
    assert latch.target == moved


def test_first_packet_from_the_signalled_host_latches_its_port() -> None:
    latch = SourceLatch(SIGNALLED)
    assert not latch.accept(OTHER_HOST, 1, 1)
    assert not latch.latched
    assert latch.accept(("192.0.2.1", 61000), 1, 1)
    assert latch.target == ("192.0.2.1", 61000)
    latch.signal(("192.0.2.7", 4000))  # a re-INVITE moves the signalled address
    assert latch.target == ("192.0.2.7", 4000)
    assert not latch.accept(("192.0.2.1", 61000), 1, 2)


def test_without_a_signalled_address_the_first_source_is_taken() -> None:
    latch = SourceLatch(None)
    assert latch.accept(OTHER_HOST, 1, 1)
    assert latch.target == OTHER_HOST
    assert not latch.accept(SIGNALLED, 2, 1)  # then held to that host like a signalled one
