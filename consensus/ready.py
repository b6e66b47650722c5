"""What a replica hands its caller after each input: one :class:`Ready`, and how to perform it.

etcd's raft is the model: the core never does I/O; after feeding it (``step``, ``tick``,
``propose``, ``note_pending``, ``greet``, ``serve_state``, ``applied``) the caller takes
``replica.ready()`` and performs it. Each field of :class:`Ready` says what the caller must do with
it and when. The order is the write-ahead rule: **persist, then deliver, then send**. A message
signed in a Ready may promise something (a prepare for a digest, a view change's P set) that
only the persisted records make survive a crash, so none of it may leave before those records are
durable.

:func:`perform` is that order, written once: the daemon (``node``) and the simulator
(``consensus.sim.cluster``) both call it with their own :class:`Effects`. It is pure: it only
calls the injected effects, in order, and stops (sending nothing) if persisting or delivering
fails.

Calling ``ready()`` again tells the replica that the previous Ready has been performed. Effects
may call back into the replica (``serve_state``, ``applied``): what that produces goes into the
next Ready, so the caller loops ``while ready := replica.ready(): perform(ready, effects)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from consensus.actions import Action, Broadcast, Deliver, Forward, Persist, Send, ServeState
from consensus.messages import Message

__all__ = ["SoftState", "Ready", "Effects", "perform"]


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth reacting to; not persisted (the ``b"view"`` record is what survives).

    A view change starting (``active`` False) or a new view starting (``active`` True) is when
    the caller should release what it had in flight for the old primary and, as the new primary,
    propose again.
    """

    view: int
    primary: int
    active: bool
    """True once the view has started (its NewView accepted or sent); False while changing view."""
    epoch: int = 0
    """The epoch the replica is in. When it changes, the validator set changed at the seq after
    the last delivered block: connect to the new members, drop the removed ones' links (views
    restart at 0 in each epoch)."""
    member: bool = True
    """False: this replica is not a validator of ``epoch`` (removed, or its key rotated away): it
    no longer votes nor answers; the node runs on as an observer (or with its new key)."""


@dataclass(frozen=True, slots=True)
class Ready:
    """Everything one input (or several, since the last ``ready()``) asks of the caller."""

    persist: tuple[Persist, ...] = ()
    """Write-ahead records, in order: make them durable (ideally one atomic, synced batch)
    **before** sending anything of this Ready. ``record is None`` deletes the key."""
    deliver: tuple[Deliver, ...] = ()
    """Committed blocks in strict height order, without gaps: execute and store each, in order,
    after ``persist`` and **before** sending (a checkpoint in ``messages`` vouches for them).
    An application whose check of a proposal answered LATER calls ``replica.applied(height)``
    once it has executed a block."""
    messages: tuple[Send | Broadcast, ...] = ()
    """Signed consensus messages, in the order produced: send only after ``persist`` and
    ``deliver`` are done. Loss is tolerated (everything is re-sent or re-requested)."""
    forward: tuple[Forward, ...] = ()
    """Client requests to hand to the primary and the other peers again (after the messages)."""
    serve: tuple[ServeState, ...] = ()
    """State requests of peers: read the blocks from the block store and answer with
    ``replica.serve_state(to, entries)`` (its reply comes in the next Ready)."""
    soft_state: SoftState | None = None
    """The epoch, view, its primary and whether it is active, when one of them changed since the
    last Ready (None: unchanged). React after ``persist``; the caller never needs to poll status()."""

    def __bool__(self) -> bool:
        return bool(
            self.persist or self.deliver or self.messages or self.forward or self.serve
            or self.soft_state is not None
        )

    @classmethod
    def of(cls, actions: Sequence[Action], soft_state: SoftState | None = None) -> Ready:
        """Sort a replica's actions, in the order produced, into the fields of one Ready."""
        if not actions:  # most steps (a Prepare short of its quorum) produce nothing
            return cls(soft_state=soft_state)
        persist: list[Persist] = []
        deliver: list[Deliver] = []
        messages: list[Send | Broadcast] = []
        forward: list[Forward] = []
        serve: list[ServeState] = []
        for a in actions:  # one pass: this runs after every message a replica steps
            if isinstance(a, (Send, Broadcast)):
                messages.append(a)
            elif isinstance(a, Persist):
                persist.append(a)
            elif isinstance(a, Deliver):
                deliver.append(a)
            elif isinstance(a, Forward):
                forward.append(a)
            elif isinstance(a, ServeState):
                serve.append(a)
        return cls(
            persist=tuple(persist), deliver=tuple(deliver), messages=tuple(messages),
            forward=tuple(forward), serve=tuple(serve),
            soft_state=soft_state,
        )

    def actions(self) -> list[Action]:
        """The Ready as one list, in the order :func:`perform` acts on it (for traces)."""
        return [*self.persist, *self.deliver, *self.messages, *self.forward, *self.serve]


@dataclass(frozen=True, slots=True)
class Effects:
    """What performing a Ready does, injected by the caller (the daemon, the simulator)."""

    persist: Callable[[tuple[Persist, ...]], bool]
    """Make these records durable together; False if that failed (nothing is sent then)."""
    deliver: Callable[[Deliver], bool]
    """Execute and store one committed block; False to stop (a halt: nothing more is done)."""
    send: Callable[[int, Message], None]
    """Send a message to one replica."""
    broadcast: Callable[[Message], None]
    """Send a message to every other replica."""
    forward: Callable[[Forward], None]
    serve: Callable[[ServeState], None]
    soft_state: Callable[[SoftState], None]
    send_in: Callable[[int, int, Message], None] | None = None
    """``send_in(epoch, to, msg)``: send to member ``to`` of an epoch before the replica's (a peer
    still catching up there; ``Send.epoch``). None: such messages are not sent (a caller whose
    replica is never given epochs)."""


def perform(ready: Ready, effects: Effects) -> bool:
    """Do what ``ready`` asks, in the order the write-ahead rule needs; False if it stopped.

    1. persist every record (one call, so the caller can write one batch), 2. deliver every
    block in order, 3. react to the soft state, 4. send the messages in order, 5. forward,
    6. serve state. Nothing is sent if step 1 or 2 fails.
    """
    if ready.persist and not effects.persist(ready.persist):
        return False
    for block in ready.deliver:
        if not effects.deliver(block):
            return False
    if ready.soft_state is not None:
        effects.soft_state(ready.soft_state)
    for out in ready.messages:
        if isinstance(out, Send):
            if out.epoch is None:
                effects.send(out.to, out.msg)
            elif effects.send_in is not None:
                effects.send_in(out.epoch, out.to, out.msg)
        else:
            effects.broadcast(out.msg)
    for request in ready.forward:
        effects.forward(request)
    for asked in ready.serve:
        effects.serve(asked)
    return True
