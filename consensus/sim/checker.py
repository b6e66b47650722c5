"""Safety checks, fed by the cluster as blocks are delivered and messages are sent.

* agreement: no two correct replicas deliver different digests at the same height;
* order: each correct replica delivers heights 1, 2, 3... with no gap or repeat (across restarts);
* certificates: every delivered block carries a quorum of valid commit signatures for it, of the
  validators of the epoch that truly orders its height;
* no equivocation: a correct replica (restarts included) never signs two digests for one
  (kind, view, seq).
"""

from __future__ import annotations

from collections.abc import Callable

from consensus.actions import Deliver
from consensus.messages import Commit, PrePrepare, Prepare
from consensus.proofs import Checker

__all__ = ["SafetyChecker"]


class SafetyChecker:
    def __init__(
        self, n: int, correct: set[int], proofs: Checker,
        proofs_at: Callable[[int], Checker] | None = None,
    ) -> None:
        """``proofs_at(seq)``: the checks of the epoch that truly orders ``seq`` (default:
        ``proofs`` for every seq)."""
        self.correct = correct
        self.proofs = proofs
        self.proofs_at = proofs_at or (lambda seq: proofs)
        self.committed: dict[int, tuple[int, bytes]] = {}
        self.heights = [0] * n
        self.signed: dict[tuple[int, str, int, int], bytes] = {}
        self.violations: list[str] = []

    def delivered(self, replica: int, d: Deliver, now: int) -> None:
        if replica not in self.correct:
            return
        if d.seq != self.heights[replica] + 1:
            self.violations.append(
                f"t={now} order: replica {replica} delivered {d.seq} after {self.heights[replica]}"
            )
        self.heights[replica] = d.seq
        first = self.committed.setdefault(d.seq, (replica, d.digest))
        if first[1] != d.digest:
            self.violations.append(
                f"t={now} agreement: height {d.seq}: replica {first[0]} delivered "
                f"{first[1].hex()[:8]}, replica {replica} delivered {d.digest.hex()[:8]}"
            )
        problem = self.proofs_at(d.seq).certificate_problem(d.certificate, d.seq, d.digest)
        if self.proofs.digest(d.payload) != d.digest or problem is not None:
            self.violations.append(f"t={now} certificate: replica {replica} at height {d.seq}: {problem}")

    def sent(self, replica: int, msg: object, now: int) -> None:
        if replica not in self.correct or not isinstance(msg, (PrePrepare, Prepare, Commit)):
            return
        key = (replica, type(msg).__name__, msg.view, msg.seq)
        first = self.signed.setdefault(key, msg.digest)
        if first != msg.digest:
            self.violations.append(
                f"t={now} equivocation: replica {replica} signed two {key[1]} for "
                f"view {msg.view} seq {msg.seq}"
            )
