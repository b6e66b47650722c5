"""Replica parameters (``Config``): sizes, quorum, timeouts. All durations are in logical ticks
(``Replica.tick()``); none is read from a clock or a file here (the node derives them from its
config and genesis).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Config"]


@dataclass(frozen=True, slots=True)
class Config:
    n: int
    """Number of validators, indexed 0..n-1 in genesis order."""
    checkpoint_interval: int = 10
    """K: a checkpoint is taken at every seq that is a multiple of K."""
    window: int = 20
    """Sequence numbers in flight: low watermark < seq <= low + window. Must be >= K."""
    view_change_timeout_ticks: int = 20
    """Base timeout: a request/proposal waiting this long, or a new view not arriving, changes view."""
    backoff_factor: int = 2
    """Each view change multiplies the timeout by this; a delivered block resets it to the base."""
    max_timeout_ticks: int = 640
    status_interval_ticks: int = 10
    """How often a replica broadcasts Status (its view and height) so laggards can notice."""
    state_request_timeout_ticks: int = 10
    """A state request unanswered this long is retried with another peer."""
    state_batch: int = 100
    """Most blocks asked for (and served) in one StateRequest/StateResponse."""
    max_stash_per_sender: int = 200
    max_later_per_sender: int = 64
    """Proposals the application answered LATER for, kept per sender until ``applied`` (only a
    view's primary proposes, and only inside the window, so ``window`` of them is the most a
    correct one needs)."""
    max_later: int = 128
    """... and in total, whatever the senders."""
    digest_size: int = 32
    unsafe_quorum_override: int | None = None
    """TESTS ONLY: replaces 2f+1 to show that the simulator catches a broken protocol."""
    unsafe_timer_reset_on_delivery: bool = False
    """TESTS ONLY: the old view timer (restarted by every delivered block, whatever request is
    still waiting), to show that the simulator catches a censoring primary it never replaces."""
    unsafe_lone_view_change: bool = False
    """TESTS ONLY: leave an active view on our own timeout, without 2f+1 suspicions (the old rule),
    to show that the simulator catches a replica left alone in a higher view."""

    def __post_init__(self) -> None:
        if self.n < 1:
            raise ValueError("n must be >= 1")
        if self.checkpoint_interval < 1 or self.window < self.checkpoint_interval:
            raise ValueError("need 1 <= checkpoint_interval <= window")
        if self.view_change_timeout_ticks < 1 or self.backoff_factor < 1:
            raise ValueError("timeouts must be positive")

    @property
    def f(self) -> int:
        """Faults tolerated: n >= 3f + 1."""
        return (self.n - 1) // 3

    @property
    def quorum(self) -> int:
        """ceil((n+f+1)/2), which is 2f+1 for n = 3f+1 (unless a test overrides it on purpose).

        For the other sizes governance can make (5, 6, ...) any two quorums still share more than
        f validators; node.kernel.chain.ValidatorSet.quorum is the same rule."""
        if self.unsafe_quorum_override is not None:
            return self.unsafe_quorum_override
        return (self.n + self.f + 2) // 2

    @property
    def suspect_ttl_ticks(self) -> int:
        """A peer's Suspect counts this long after it arrived: three status intervals (it is
        re-sent every interval while it holds, so a lost one or two do not make it lapse)."""
        return 3 * self.status_interval_ticks

    def primary(self, view: int) -> int:
        return view % self.n
