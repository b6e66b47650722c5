"""The block feed without sockets: frames, the validator's bounded server, the observer's checks."""

from __future__ import annotations

import hashlib
import json

import pytest

from consensus.messages import Certificate as ConsensusCertificate
from consensus.messages import commit_signing_bytes
from node.kernel import chain
from node.kernel.crypto import PublicKey, SigningKey, generate_key
from node.observer.feed import (
    MAX_FEED_ENTRIES,
    TAG_FEED,
    FeedBlocks,
    FeedEntry,
    FeedError,
    FeedRequest,
    decode_feed,
    encode_blocks,
    encode_request,
)
from node.observer.follower import Follower, entry_problem
from node.observer.server import FeedServer

CHAIN = "wc-test"
KEYS = [generate_key() for _ in range(4)]
VALIDATORS = chain.ValidatorSet(chain.Validator(name=f"v{i}", pubkey=k.public_key.hex(), address=k.address)
                                for i, k in enumerate(KEYS))


def digest_of(payload: bytes) -> bytes:
    return hashlib.sha256(b"block" + payload).digest()


def certified(height: int, payload: bytes, signers: range = range(3), keys: list[SigningKey] = KEYS) -> FeedEntry:
    digest = digest_of(payload)
    data = commit_signing_bytes(CHAIN.encode(), 0, height, digest)
    sigs = [(i, keys[i].sign(data).hex()) for i in signers]
    return FeedEntry(payload, chain.Certificate(height, 0, digest.hex(), sigs))


# -- frames ---------------------------------------------------------------------------------------

def test_frames_round_trip() -> None:
    entries = [certified(1, b"first"), certified(2, b"")]
    frame = encode_blocks(7, entries)
    assert frame[:2] == TAG_FEED + b"b"
    decoded = decode_feed(frame[1:])
    assert decoded == FeedBlocks(7, tuple(entries))
    assert decode_feed(encode_request(5)[1:]) == FeedRequest(5)
    assert encode_request(5) == b'f?{"from_height":5}'
    assert decode_feed(encode_blocks(3, [])[1:]) == FeedBlocks(3, ())


@pytest.mark.parametrize("body", [
    b"", b"x", b"?", b'?{"from_height":0}', b'?{"from_height":1,"more":1}', b"b", b"b\x00\x00\x00\x05{}",
    b"b\x00\x00\x00\x02{}", b'b\x00\x00\x00\x0c{"tip":1}xxx',
])
def test_junk_is_a_feed_error(body: bytes) -> None:
    with pytest.raises(FeedError):
        decode_feed(body)


def test_sizes_must_add_up() -> None:
    frame = encode_blocks(1, [certified(1, b"abc")])[1:]
    with pytest.raises(FeedError, match="shorter"):
        decode_feed(frame[:-1])
    with pytest.raises(FeedError, match="after the last block"):
        decode_feed(frame + b"!")
    header = json.loads(frame[5 : 5 + int.from_bytes(frame[1:5], "big")])
    header["entries"] = header["entries"] * (MAX_FEED_ENTRIES + 1)
    raw = json.dumps(header).encode()
    with pytest.raises(FeedError):
        decode_feed(b"b" + len(raw).to_bytes(4, "big") + raw)


# -- the validator's server -------------------------------------------------------------------------

class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class Chain:
    """A validator's committed blocks and what its server sent to whom."""

    def __init__(self, height: int) -> None:
        self.height = height
        self.sent: list[tuple[PublicKey, FeedBlocks]] = []
        self.queue = 0
        self.accept = True

    def entry(self, height: int) -> tuple[bytes, bytes, chain.Certificate] | None:
        if not 1 <= height <= self.height:
            return None
        e = certified(height, b"block %d" % height)
        return e.payload, e.digest, e.certificate

    def send(self, peer: PublicKey, frame: bytes) -> bool:
        if not self.accept:
            return False
        decoded = decode_feed(frame[1:])
        assert isinstance(decoded, FeedBlocks)
        self.sent.append((peer, decoded))
        return True

    def served(self, peer: PublicKey) -> list[int]:
        return [e.height for p, f in self.sent if p == peer for e in f.entries]


OBSERVER = generate_key().public_key


def server(c: Chain, clock: Clock, rate: int = 10, frame_bytes: int = 1 << 20) -> FeedServer:
    return FeedServer(entry=c.entry, height=lambda: c.height, send=c.send, queued=lambda peer: c.queue,
                      blocks_per_s=rate, frame_bytes=frame_bytes, clock=clock)


def test_an_observer_gets_at_most_blocks_per_s() -> None:
    c, clock = Chain(100), Clock()
    s = server(c, clock, rate=10)
    s.link_up(OBSERVER)
    s.pump()
    assert c.sent == []  # nothing until it asks
    s.request(OBSERVER, FeedRequest(1))
    assert c.served(OBSERVER) == list(range(1, 11))  # a second's worth at once
    for _ in range(30):  # 3 s of ticks every 100 ms
        clock.now += 0.1
        s.pump()
    served = c.served(OBSERVER)
    assert served == list(range(1, len(served) + 1))  # in order, none twice
    assert len(served) <= 10 + 30 + 1  # the bucket: a second's burst, then 10 a second
    assert s.stats["blocks_served"] == len(served)
    # Idle time does not bank more than one second's worth.
    clock.now += 60
    before = len(c.served(OBSERVER))
    s.pump()
    assert len(c.served(OBSERVER)) - before <= 10


def test_a_backed_up_queue_and_a_refused_send_hold_the_feed() -> None:
    c, clock = Chain(5), Clock()
    s = server(c, clock, rate=100)
    s.link_up(OBSERVER)
    c.queue = 2
    s.request(OBSERVER, FeedRequest(1))
    assert c.sent == []
    c.queue, c.accept = 0, False
    s.pump()
    c.accept = True
    s.pump()
    assert c.served(OBSERVER) == [1, 2, 3, 4, 5]  # the refused frame is sent again, not skipped


def test_frames_are_bounded_in_bytes_and_the_cursor_can_go_back() -> None:
    c, clock = Chain(6), Clock()
    s = server(c, clock, rate=100, frame_bytes=2100)  # two blocks a frame (each counts 1 KiB more)
    s.link_up(OBSERVER)
    s.request(OBSERVER, FeedRequest(1))
    assert [len(f.entries) for _, f in c.sent] == [2]
    s.pump()
    s.pump()
    assert c.served(OBSERVER) == [1, 2, 3, 4, 5, 6]
    s.request(OBSERVER, FeedRequest(5))  # it lost a frame
    assert c.served(OBSERVER)[-2:] == [5, 6]


def test_a_caught_up_observer_is_told_the_tip_and_strangers_get_nothing() -> None:
    c, clock = Chain(3), Clock()
    s = server(c, clock)
    s.request(OBSERVER, FeedRequest(1))  # not linked as an observer
    assert c.sent == []
    s.link_up(OBSERVER)
    s.request(OBSERVER, FeedRequest(99))
    assert c.sent == [(OBSERVER, FeedBlocks(3, ()))]
    for _ in range(100):  # asking in a loop gets no more answers than one per 100 ms
        s.request(OBSERVER, FeedRequest(4))
    assert len(c.sent) == 1
    clock.now += 0.2
    s.request(OBSERVER, FeedRequest(4))
    assert len(c.sent) == 2
    c.sent.pop()
    s.on_frame(OBSERVER, b"junk")
    assert s.stats["malformed"] == 1
    s.link_down(OBSERVER)
    c.height = 4
    s.pump()
    assert len(c.sent) == 1


# -- the observer's follower ------------------------------------------------------------------------

def test_entry_problem_checks_certificate_against_the_set_and_the_digest() -> None:
    def problem(entry: FeedEntry, height: int = 1) -> str | None:
        return entry_problem(entry, height, chain_id=CHAIN, validators=VALIDATORS, digest=digest_of)

    good = certified(1, b"b1")
    assert problem(good) is None
    assert "expected block 2" in (problem(good, 2) or "")
    assert "2 signatures" in (problem(certified(1, b"b1", range(2))) or "")
    outsiders = [generate_key() for _ in range(4)]
    assert "is invalid" in (problem(certified(1, b"b1", keys=outsiders)) or "")
    assert "does not hash" in (problem(FeedEntry(b"other", good.certificate)) or "")
    (i, sig), *rest = good.certificate.signatures
    twice = chain.Certificate(1, 0, good.certificate.block_hash, [(i, sig), (i, sig), *rest])
    assert "repeated" in (problem(FeedEntry(b"b1", twice)) or "")


class Observer:
    def __init__(self) -> None:
        self.height = 0
        self.committed: list[tuple[int, bytes]] = []
        self.asked: list[tuple[PublicKey, int]] = []
        self.clock = Clock()
        self.follower = Follower(chain_id=CHAIN, height=lambda: self.height, validators_at=lambda h: VALIDATORS,
                                 digest=digest_of, commit=self.commit, send=self.send, clock=self.clock)

    def commit(self, seq: int, digest: bytes, payload: bytes, cert: ConsensusCertificate) -> bool:
        assert cert.seq == seq and cert.digest == digest
        self.committed.append((seq, payload))
        self.height = seq
        return True

    def send(self, peer: PublicKey, frame: bytes) -> bool:
        request = decode_feed(frame[1:])
        assert isinstance(request, FeedRequest)
        self.asked.append((peer, request.from_height))
        return True


V = [k.public_key for k in KEYS]


def frame(tip: int, *entries: FeedEntry) -> bytes:
    return encode_blocks(tip, list(entries))[1:]


def test_the_follower_takes_each_block_once_in_order_and_refuses_bad_ones() -> None:
    o = Observer()
    for v in V:
        o.follower.link_up(v)
    assert o.asked == [(v, 1) for v in V]
    o.follower.on_frame(V[0], frame(2, certified(1, b"b1"), certified(2, b"b2")))
    o.follower.on_frame(V[1], frame(2, certified(1, b"b1"), certified(2, b"b2")))  # duplicates
    assert o.committed == [(1, b"b1"), (2, b"b2")] and o.follower.stats["duplicates"] == 2
    # A byzantine validator's block 3: its certificate lacks a quorum; nothing is executed.
    o.follower.on_frame(V[3], frame(3, certified(3, b"evil", range(2))))
    assert o.height == 2 and o.follower.stats["refused"] == 1
    o.follower.on_frame(V[3], frame(3, FeedEntry(b"evil", certified(3, b"b3").certificate)))
    assert o.height == 2 and o.follower.stats["refused"] == 2
    o.follower.on_frame(V[2], frame(3, certified(3, b"b3")))
    assert o.committed[-1] == (3, b"b3")
    # A frame that starts above our next height: the sender lost one; ask it again.
    o.follower.on_frame(V[1], frame(5, certified(5, b"b5")))
    assert o.height == 3 and o.asked[-1] == (V[1], 4)
    o.follower.on_frame(V[1], b"junk")
    assert o.follower.stats["malformed"] == 1
    # A stranger's frame (not a linked validator) is ignored.
    o.follower.on_frame(generate_key().public_key, frame(4, certified(4, b"b4")))
    assert o.height == 3


def test_peer_height_is_what_f_plus_one_validators_vouch_for_and_a_stall_asks_again() -> None:
    o = Observer()
    for v in V[:3]:
        o.follower.link_up(v)
    assert o.follower.peer_height() is None
    o.follower.on_frame(V[0], frame(1000))  # a byzantine tip alone proves nothing (f = 1)
    assert o.follower.peer_height() is None
    o.follower.on_frame(V[1], frame(4))
    assert o.follower.peer_height() == 4
    asked = len(o.asked)
    o.follower.tick()
    assert len(o.asked) == asked  # not stalled yet
    o.clock.now += 1.5
    o.follower.tick()
    assert {p for p, _ in o.asked[asked:]} == {V[0], V[1], V[2]}  # V[2] never reported
    o.follower.stop()
    o.follower.on_frame(V[1], frame(4, certified(1, b"b1")))
    assert o.height == 0  # a stopped follower takes nothing (the node votes now)
