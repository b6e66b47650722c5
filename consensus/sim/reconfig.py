"""Reconfiguration in the simulator: a plan of validator-set changes, and the seeds that run it
under faults (docs/CONSENSUS.md, "Reconfiguration"; docs/TESTING.md).

A :class:`Plan` is what the ledger would decide: the machines taking part, the genesis members and
each change (the block that approves it and the members after it, each member a machine and its
key generation, so a key rotation is the same machine with its next key). The cluster plays the
daemon's part: when a node executes the approving block it hands the epoch to its replica
(``Replica.schedule_epoch``); a machine that is not a member yet follows the chain as an observer
(copying certified blocks, each checked against the validator set of its height) and starts its
replica at the epoch that admits it; one whose key rotated restarts its replica with the new key;
a removed one stops.

``run_reconfig_seed`` draws a plan (4->5, 5->4, 4->7, a key rotation, 4->5->4 ...) and runs it
with the fault schedule of :func:`consensus.sim.runner.run_seed` (crashes, partitions, byzantine
replicas, loss): agreement and certificates are checked against the *true* epoch of every height,
and liveness across the switch. ``unsafe_epoch_skew`` breaks the protocol on purpose: some
replicas are told the first epoch change starts K seqs later than it does.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from consensus.epoch import Epoch, first_seq_after
from consensus.sim.fakecrypto import FakeVerifier, fake_keys

if TYPE_CHECKING:
    from consensus.sim.runner import SimResult

__all__ = ["Member", "Change", "Plan", "PLANS", "draw_plan", "key_of", "run_reconfig_seed"]

Member = tuple[int, int]
"""(machine, key generation)."""


def key_of(member: Member) -> bytes:
    machine, generation = member
    return fake_keys(machine + 1, b"" if generation == 0 else b"gen/%d" % generation)[machine]


@dataclass(frozen=True)
class Change:
    approved: int
    """The block whose execution schedules the change."""
    members: tuple[Member, ...]


@dataclass(frozen=True)
class Plan:
    name: str
    machines: int
    initial: tuple[Member, ...]
    changes: tuple[Change, ...]

    def epochs(self, checkpoint_interval: int) -> list[tuple[int, Epoch]]:
        """(approving height, epoch) for every epoch; epoch 0 is approved at 0 (genesis)."""
        out = [(0, _epoch(0, 1, self.initial))]
        for change in self.changes:
            first = max(first_seq_after(change.approved, checkpoint_interval),
                        out[-1][1].first_seq + checkpoint_interval)
            out.append((change.approved, _epoch(len(out), first, change.members)))
        return out

    @property
    def f_min(self) -> int:
        """The fewest faults any epoch tolerates: the fault budget of the whole run."""
        sizes = [len(self.initial)] + [len(c.members) for c in self.changes]
        return min((n - 1) // 3 for n in sizes)


def _epoch(number: int, first_seq: int, members: tuple[Member, ...]) -> Epoch:
    keys = tuple(key_of(m) for m in members)
    return Epoch(number, first_seq, keys, FakeVerifier(list(keys)))


def _gen0(machines: Iterable[int]) -> tuple[Member, ...]:
    return tuple((m, 0) for m in machines)


PLANS = ("add", "remove", "grow", "rotate", "add-remove", "shrink")


def draw_plan(rng: random.Random, kind: str | None = None) -> Plan:
    """A plan of one kind (drawn if None), with approval heights and the machine touched drawn."""
    kind = kind or rng.choice(PLANS)
    first = rng.randint(2, 12)
    second = first + rng.randint(1, 8)
    if kind == "add":  # 4 -> 5
        return Plan(kind, 5, _gen0(range(4)), (Change(first, _gen0(range(5))),))
    if kind == "remove":  # 5 -> 4
        gone = rng.randrange(5)
        return Plan(kind, 5, _gen0(range(5)), (Change(first, _gen0(m for m in range(5) if m != gone)),))
    if kind == "grow":  # 4 -> 7
        return Plan(kind, 7, _gen0(range(4)), (Change(first, _gen0(range(7))),))
    if kind == "shrink":  # 7 -> 4 (6 in between)
        a, b = rng.sample(range(7), 3)[:2]
        six = _gen0(m for m in range(7) if m != a)
        four = tuple(m for m in six if m[0] not in (b,))[:4]
        return Plan(kind, 7, _gen0(range(7)), (Change(first, six), Change(second, four)))
    if kind == "rotate":  # machine r's key is replaced
        r = rng.randrange(4)
        return Plan(kind, 4, _gen0(range(4)),
                    (Change(first, tuple((m, 1 if m == r else 0) for m in range(4))),))
    # add-remove: 4 -> 5 -> 4 (an original member leaves)
    gone = rng.randrange(4)
    return Plan(kind, 5, _gen0(range(4)), (
        Change(first, _gen0(range(5))), Change(second, _gen0(m for m in range(5) if m != gone)),
    ))


def run_reconfig_seed(seed: int, *, verbose: bool = False, unsafe_epoch_skew: bool = False) -> SimResult:
    """One reconfiguration seed: its plan drawn from the seed, run with the faults of
    ``run_seed`` (replays exactly with ``scripts/simulate.py --reconfig --seed N --verbose``)."""
    from consensus.sim.runner import run_seed

    plan = draw_plan(random.Random(f"warrantchain-reconfig/plan/{seed}"))
    return run_seed(seed, plan=plan, verbose=verbose, unsafe_epoch_skew=unsafe_epoch_skew)
