"""What a Replica asks its caller to do, and how it classified each message it was given.

``Replica.ready()`` hands them over sorted into the fields of a :class:`consensus.ready.Ready`,
whose docstrings state what the caller must do with each and in which order: every
:class:`Persist` (and :class:`Deliver`) of a Ready durably *before* any :class:`Send` /
:class:`Broadcast` of it. That is the write-ahead rule that keeps a restarted replica from
equivocating; :func:`consensus.ready.perform` follows it for the daemon and the simulator alike.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union

from consensus.messages import Certificate, Message, describe
from consensus.persist import Record

__all__ = [
    "Send",
    "Broadcast",
    "Persist",
    "Deliver",
    "ServeState",
    "Forward",
    "Action",
    "Verdict",
    "Reason",
    "Outcome",
    "describe_action",
]


@dataclass(frozen=True, slots=True)
class Send:
    """Send ``msg`` to replica ``to`` (after persisting this batch).

    ``to`` is an id of the replica's current epoch, or of ``epoch`` if set: an epoch before,
    whose member is still catching up there (its key may be in no later epoch)."""

    to: int
    msg: Message
    epoch: int | None = None


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Send ``msg`` to every other replica (after persisting this batch)."""

    msg: Message


@dataclass(frozen=True, slots=True)
class Persist:
    """Durably set ``key`` to ``value`` (``None``: delete ``key``) before sending this batch.

    ``record`` is the decoded form (a ``consensus.persist`` record); ``value`` its bytes, computed
    on demand. Rebuild with ``PersistedState.from_items(stored key/values)``.
    """

    key: bytes
    record: Record | None

    @property
    def value(self) -> bytes | None:
        return None if self.record is None else self.record.encode()


@dataclass(frozen=True, slots=True)
class Deliver:
    """Block ``seq`` is committed. Deliveries come in strict seq order with no gaps.

    ``payload == b""`` is a *null block* (PBFT's null request, digest ``digest(b"")``): the
    application appends an empty block so that heights stay equal to sequence numbers.
    """

    seq: int
    digest: bytes
    payload: bytes
    certificate: Certificate


@dataclass(frozen=True, slots=True)
class ServeState:
    """Replica ``to`` asked for blocks ``from_seq..to_seq``: read them from the block store and
    call ``replica.serve_state(to, entries, epoch)`` (entries you don't have can be left out).
    ``epoch`` as in :class:`Send`: set when the asker is still in an epoch before ours."""

    to: int
    from_seq: int
    to_seq: int
    epoch: int | None = None


@dataclass(frozen=True, slots=True)
class Forward:
    """The oldest request this replica waits for (``request``, as given to ``note_pending``) is
    half-way to its timeout: hand it to the ``primary`` (and the other peers) again, in case
    they never got it (PBFT 4.4: a backup forwards the request it waits for to the primary)."""

    request: bytes
    primary: int


Action = Union[Send, Broadcast, Persist, Deliver, ServeState, Forward]


class Verdict(enum.Enum):
    PROCESS = "process"
    STASH = "stash"
    """Kept and replayed when the view or window moves (a LATER proposal: after ``applied``)."""
    DISCARD = "discard"


class Reason(enum.Enum):
    WRONG_VIEW = "wrong view"
    OUTSIDE_WINDOW = "outside the window"
    DUPLICATE = "duplicate"
    BAD_SIGNATURE = "bad signature"
    UNKNOWN_SENDER = "unknown sender"
    MALFORMED = "malformed"
    CONFLICT = "conflicts with a message already accepted from that sender"
    REJECTED = "rejected by the application"
    STASH_FULL = "stash full for that sender"
    LATER = "the application can check it only after executing the block before it"
    WRONG_EPOCH = "of another epoch"
    EPOCH_UNKNOWN = "for a seq whose epoch is not known yet"
    NOT_A_MEMBER = "this replica is not a validator of its epoch"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What ``Replica.step`` did with a message."""

    verdict: Verdict
    reason: Reason | None = None
    detail: str = ""

    def __str__(self) -> str:
        if self.reason is None:
            return self.verdict.value
        extra = f": {self.detail}" if self.detail else ""
        return f"{self.verdict.value} ({self.reason.value}{extra})"


PROCESSED = Outcome(Verdict.PROCESS)


def describe_action(action: Action) -> str:
    if isinstance(action, Send):
        where = "" if action.epoch is None else f" of epoch {action.epoch}"
        return f"send to {action.to}{where}: {describe(action.msg)}"
    if isinstance(action, Broadcast):
        return f"broadcast: {describe(action.msg)}"
    if isinstance(action, Persist):
        what = "delete" if action.record is None else type(action.record).__name__
        return f"persist {action.key!r} {what}"
    if isinstance(action, Deliver):
        return f"deliver s={action.seq} d={action.digest.hex()[:8]} {len(action.payload)}B"
    if isinstance(action, Forward):
        return f"forward request {action.request.hex()[:8]} to {action.primary}"
    return f"serve state to {action.to}: {action.from_seq}..{action.to_seq}"
