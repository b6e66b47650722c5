"""Following the chain without voting: the observer's side of the block feed (no I/O; the node
calls it from its event loop and hands it the mesh and the commit path).

The follower asks every linked validator for the blocks after its height (node.observer.feed) and
takes each block exactly once, in height order, from whichever validator delivers it first. Before
a block is executed its certificate is verified against the validator set of its height
(node.ledger.epochs.validator_set_at, read from the state executed so far: the set that certifies
block h is fixed by the state after h - 1), and the block must hash to the certified digest. Only
then does it go down the commit path the replica's deliveries take (``commit``: execute, write
in one batch, events). A frame whose first new block fails either check is dropped and counted:
the validator that sent it is faulty, and the others deliver the block.

A validator that joins later runs a follower until the epoch that admits it, then stops it and
votes (the node makes the replica); :meth:`Follower.stop` makes it ignore everything after.

Catching up and staying live use the same request: on link-up, after a gap (a frame starting
above our next height: the sender dropped a frame to us), and when no new block came for
``stall_s`` although a validator reported a higher tip.
"""

from __future__ import annotations

import collections
import logging
from collections.abc import Callable

from consensus.messages import Certificate as ConsensusCertificate
from node.errors import ChainError
from node.kernel.chain import ValidatorSet
from node.kernel.crypto import PublicKey
from node.logs import Throttle, kv
from node.observer.feed import FeedBlocks, FeedEntry, FeedError, FeedRequest, decode_feed, encode_request

__all__ = ["Follower", "entry_problem"]

log = logging.getLogger("warrantd")
_STALL_S = 1.0


def entry_problem(
    entry: FeedEntry, height: int, *, chain_id: str, validators: ValidatorSet, digest: Callable[[bytes], bytes]
) -> str | None:
    """Why ``entry`` is not committed block ``height``, or None: its certificate must verify
    against ``validators`` (the set of that height) and the block must hash to the digest it
    certifies (``digest`` is the application's: the block hash, or the null digest for b"")."""
    if entry.height != height:
        return f"expected block {height}, got a certificate for {entry.height}"
    try:
        entry.certificate.verify(validators, chain_id, entry.digest, height)
    except ChainError as exc:
        return str(exc)
    if digest(entry.payload) != entry.digest:
        return f"block {height} does not hash to the digest its certificate names"
    return None


class Follower:
    """Takes committed blocks from the validators' feeds, verifies and commits them."""

    def __init__(
        self,
        *,
        chain_id: str,
        height: Callable[[], int],
        validators_at: Callable[[int], ValidatorSet],
        digest: Callable[[bytes], bytes],
        commit: Callable[[int, bytes, bytes, ConsensusCertificate], bool],
        send: Callable[[PublicKey, bytes], bool],
        clock: Callable[[], float],
        stall_s: float = _STALL_S,
    ) -> None:
        self._chain_id = chain_id
        self._height = height
        self._validators_at = validators_at
        self._digest = digest
        self._commit = commit
        self._send = send
        self._clock = clock
        self._stall_s = stall_s
        self._tips: dict[PublicKey, int] = {}  # linked validator -> the height it last reported (-1: none yet)
        self._progress = clock()  # when the last block was committed (or we last asked again)
        self._refusals = Throttle(log)
        self.running = True
        self.stats: collections.Counter[str] = collections.Counter()
        """blocks (committed from the feed), duplicates, gaps, requests, refused, malformed."""

    def stop(self) -> None:
        """Stop following (the node votes from now on, or stops)."""
        self.running = False
        self._tips.clear()

    def link_up(self, validator: PublicKey) -> None:
        if self.running:
            self._tips[validator] = -1
            self._ask(validator)

    def link_down(self, validator: PublicKey) -> None:
        self._tips.pop(validator, None)

    def peer_height(self) -> int | None:
        """The height a correct validator vouches for: the (f+1)-th highest tip the linked
        validators reported (f of the next block's set), None until that many reported."""
        tips = sorted((t for t in self._tips.values() if t >= 0), reverse=True)
        f = self._validators_at(self._height() + 1).f
        return tips[f] if len(tips) > f else None

    def on_frame(self, validator: PublicKey, body: bytes) -> None:
        """A feed frame (after the tag) from a linked validator."""
        if not self.running or validator not in self._tips:
            return
        try:
            frame = decode_feed(body)
        except FeedError as exc:
            self.stats["malformed"] += 1
            self._refused(validator, "malformed", str(exc))
            return
        if isinstance(frame, FeedRequest):  # observers serve nobody
            return
        self._tips[validator] = max(self._tips[validator], frame.tip)
        self._take(validator, frame)

    def _take(self, validator: PublicKey, frame: FeedBlocks) -> None:
        for entry in frame.entries:
            if not self.running:
                return
            height = self._height() + 1
            if entry.height < height:
                self.stats["duplicates"] += 1  # another validator was first
                continue
            if entry.height > height:
                self.stats["gaps"] += 1  # the sender dropped a frame to us: ask it again
                self._ask(validator)
                return
            problem = entry_problem(entry, height, chain_id=self._chain_id, validators=self._validators_at(height),
                                    digest=self._digest)
            if problem is not None:
                self.stats["refused"] += 1
                self._refused(validator, "block", problem)
                return
            if not self._commit(height, entry.digest, entry.payload, entry.certificate.to_consensus()):
                self.stop()  # the node halted
                return
            self.stats["blocks"] += 1
            self._progress = self._clock()

    def tick(self) -> None:
        """Ask again if no block came for a while although a validator is ahead of us."""
        if not self.running or self._clock() - self._progress < self._stall_s:
            return
        height = self._height()
        behind = [v for v, tip in self._tips.items() if tip > height or tip < 0]
        self._progress = self._clock()
        for validator in behind:
            self._ask(validator)

    def _ask(self, validator: PublicKey) -> None:
        self.stats["requests"] += 1
        self._send(validator, encode_request(self._height() + 1))

    def _refused(self, validator: PublicKey, what: str, problem: str) -> None:
        # A byzantine validator can send many; one log line per reason and interval, with a count.
        self._refusals.warning(f"{what}:{problem[:60]}", "%s", kv("feed-refused", validator=validator.hex()[:16],
                                                                    what=what, reason=problem))
