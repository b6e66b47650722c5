"""Per-sequence-number slots: the pre-prepare accepted in the current view and the votes for it.

A slot only holds votes of its current ``view``; entering a new view resets them (the prepared
certificate, ``proof``, and a committed block survive). Quorum counting is plain counting of
distinct senders whose vote matches the accepted digest.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from consensus.messages import Certificate, Commit, PrePrepare, PreparedProof, Prepare

__all__ = ["Slot"]


@dataclass(slots=True)
class Slot:
    seq: int
    view: int = -1
    pre_prepare: PrePrepare | None = None
    prepares: dict[int, Prepare] = field(default_factory=dict)
    commits: dict[int, Commit] = field(default_factory=dict)
    prepared: bool = False
    """Prepared in ``view``: pre-prepare and 2f matching prepares from distinct backups."""
    proof: PreparedProof | None = None
    """The highest-view prepared certificate this replica holds for ``seq`` (reported in VCs)."""
    committed: Certificate | None = None
    payload: bytes = b""
    rejected: bool = False
    """The application refused this view's proposal: counts as waiting (the view timer runs)."""

    def enter_view(self, view: int) -> None:
        """Forget the votes of older views; keep the prepared proof and a commit."""
        if view != self.view:
            self.view = view
            self.pre_prepare = None
            self.prepares = {}
            self.commits = {}
            self.prepared = False
            self.rejected = False

    def matching_prepares(self, primary: int) -> list[Prepare]:
        pp = self.pre_prepare
        if pp is None:
            return []
        return sorted(
            (p for s, p in self.prepares.items() if s != primary and p.digest == pp.digest),
            key=lambda p: p.sender,
        )

    def matching_commits(self) -> list[Commit]:
        pp = self.pre_prepare
        if pp is None:
            return []
        return sorted(
            (c for c in self.commits.values() if c.digest == pp.digest), key=lambda c: c.sender
        )

    def waiting(self) -> bool:
        """Is something proposed in this view still uncommitted here?"""
        return (self.pre_prepare is not None or self.rejected) and self.committed is None
