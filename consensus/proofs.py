"""Checking signed evidence: signatures, commit certificates, checkpoint proofs, prepared
certificates, view changes; and computing a new view's pre-prepares (PBFT's O set).

Castro & Liskov, TOCS 2002, section 4.4: the new primary takes min-s, the latest stable
checkpoint in V, and max-s, the highest prepared seq in V; for every seq in (min-s, max-s] it
re-proposes the digest of the prepared certificate with the highest view, or a null request.
Backups recompute the same thing from V and refuse a NewView that differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from consensus.params import Config
from consensus.interfaces import DigestFn, Verifier
from consensus.messages import (
    Certificate,
    Checkpoint,
    Message,
    PreparedProof,
    ViewChange,
    commit_signing_bytes,
    signing_bytes,
)

__all__ = ["Checker", "NewViewPlan", "certificate_problem"]


def certificate_problem(
    cert: Certificate,
    seq: int,
    digest: bytes,
    *,
    domain: bytes,
    n: int,
    quorum: int,
    verify: Callable[[int, bytes, bytes], bool],
) -> str | None:
    """Why ``cert`` does not prove that ``digest`` was committed at ``seq``, or None if it does.

    The one check of a commit certificate, for the replica (blocks fetched by state transfer) and
    the node (stored blocks, proof bundles verified offline): it certifies (seq, digest), and it
    holds commit signatures (``commit_signing_bytes(domain, view, seq, digest)``) of at least
    ``quorum`` distinct validators among ``0..n-1``, and every signature listed is valid (so a
    certificate a replica accepts is one every verifier accepts). ``verify(index, data, sig)``
    must not raise.
    """
    if cert.seq != seq or cert.digest != digest:
        return (f"certificate is for block {cert.seq}/{cert.digest.hex()[:12]}, "
                f"not {seq}/{digest.hex()[:12]}")
    data = commit_signing_bytes(domain, cert.view, seq, digest)
    signers: set[int] = set()
    for replica, sig in cert.signatures:
        if not 0 <= replica < n or replica in signers:
            return f"certificate for block {seq}: unknown or repeated validator {replica}"
        if not verify(replica, data, sig):
            return f"certificate for block {seq}: signature of validator {replica} is invalid"
        signers.add(replica)
    if len(signers) < quorum:
        return f"certificate for block {seq} has {len(signers)} signatures; {quorum} are needed"
    return None


@dataclass(frozen=True, slots=True)
class NewViewPlan:
    stable_seq: int
    stable_digest: bytes
    stable_proof: tuple[Checkpoint, ...]
    proposals: tuple[tuple[int, bytes, bytes], ...]
    """(seq, digest, payload) for every seq in (stable_seq, max-s], nulls included."""


class Checker:
    """The checks of one epoch: its validators (``config.n``, ``verifier``), its signing
    ``domain`` (``chain_domain`` for commits and certificates) and its ``base``, the seq before
    its first, which is stable in it without a proof (genesis, 0, for epoch 0)."""

    def __init__(
        self, config: Config, verifier: Verifier, domain: bytes, digest: DigestFn,
        *, chain_domain: bytes | None = None, base: int = 0,
    ) -> None:
        self.config = config
        self.verifier = verifier
        self.domain = domain
        self.chain_domain = chain_domain or domain
        self.base = base
        self.digest = digest
        self.null_digest = digest(b"")

    def signed(self, msg: Message) -> bool:
        if not 0 <= msg.sender < self.config.n:
            return False
        data = signing_bytes(self.domain, msg, self.chain_domain)
        return self.verifier.verify(msg.sender, data, msg.sig)

    def certificate_problem(self, cert: Certificate, seq: int, digest: bytes) -> str | None:
        """:func:`certificate_problem` with this replica's validators and quorum."""
        return certificate_problem(
            cert, seq, digest, domain=self.chain_domain, n=self.config.n,
            quorum=self.config.quorum, verify=self.verifier.verify,
        )

    def checkpoint_proof_ok(self, seq: int, digest: bytes, proof: tuple[Checkpoint, ...]) -> bool:
        if seq < self.base:
            return False  # the epoch before's: its validators are not ours
        if seq == self.base:
            # The epoch's genesis: every member that entered the epoch delivered it, certified by
            # the validators before (its digest is never used to choose or check a block).
            return True
        if seq % self.config.checkpoint_interval:
            return False
        senders: set[int] = set()
        for cp in proof:
            if cp.seq == seq and cp.digest == digest and cp.sender not in senders and self.signed(cp):
                senders.add(cp.sender)
        return len(senders) >= self.config.quorum

    def prepared_proof_ok(self, proof: PreparedProof, before_view: int, low: int) -> bool:
        pp = proof.pre_prepare
        if pp.view >= before_view or not low < pp.seq <= low + self.config.window:
            return False
        primary = self.config.primary(pp.view)
        if pp.sender != primary or self.digest(pp.payload) != pp.digest or not self.signed(pp):
            return False
        senders: set[int] = set()
        for p in proof.prepares:
            if (p.view, p.seq, p.digest) != (pp.view, pp.seq, pp.digest):
                continue
            if p.sender == primary or p.sender in senders or not self.signed(p):
                continue
            senders.add(p.sender)
        return len(senders) >= self.config.quorum - 1

    def view_change_problem(self, vc: ViewChange) -> str | None:
        """Why ``vc``'s contents are invalid (its own signature is checked elsewhere), or None."""
        if vc.stable_seq and len(vc.stable_digest) != self.config.digest_size:
            return "bad stable digest"
        if not self.checkpoint_proof_ok(vc.stable_seq, vc.stable_digest, vc.checkpoint_proof):
            return "bad checkpoint proof"
        seqs: set[int] = set()
        for proof in vc.prepared:
            if proof.pre_prepare.seq in seqs:
                return "two prepared proofs for one seq"
            seqs.add(proof.pre_prepare.seq)
            if not self.prepared_proof_ok(proof, vc.view, vc.stable_seq):
                return f"bad prepared proof for seq {proof.pre_prepare.seq}"
        return None

    def plan_new_view(self, vcs: tuple[ViewChange, ...]) -> NewViewPlan:
        """The O set, deterministically, from valid view changes (PBFT section 4.4)."""
        best = max(vcs, key=lambda vc: (vc.stable_seq, vc.sender))
        min_s = best.stable_seq
        chosen: dict[int, PreparedProof] = {}
        for vc in vcs:
            for proof in vc.prepared:
                pp = proof.pre_prepare
                if pp.seq <= min_s:
                    continue
                cur = chosen.get(pp.seq)
                if cur is None or (pp.view, pp.digest) > (cur.pre_prepare.view, cur.pre_prepare.digest):
                    chosen[pp.seq] = proof
        max_s = max(chosen, default=min_s)
        proposals = []
        for seq in range(min_s + 1, max_s + 1):
            best_proof = chosen.get(seq)
            if best_proof is None:
                proposals.append((seq, self.null_digest, b""))
            else:
                pp = best_proof.pre_prepare
                proposals.append((seq, pp.digest, pp.payload))
        return NewViewPlan(min_s, best.stable_digest, best.checkpoint_proof, tuple(proposals))
