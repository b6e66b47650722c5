"""Scripted consensus scenarios and the transcript they print (golden tests, docs/TESTING.md).

In the style of etcd raft's datadriven interaction tests (``rafttest/interaction_env*.go``): a
scenario is a list of commands that drive a :class:`~consensus.sim.cluster.Cluster` by hand --
which message is delivered or lost, which replica ticks, crashes or restarts -- and each command
answers with a deterministic transcript of what the replicas did.

The transcript is *observed*, not taken from the replica's output objects: after every single
delivery, tick or call, :class:`Script` compares each node's disk (persisted records), block store
(delivered blocks) and soft state (view, stable checkpoint, log) with what they were before, and
lists the messages that entered the network. So a transcript says what was persisted, delivered
and sent, whatever shape the replica's drain takes; it changes only when behaviour does.

Commands (one a line; NODES is ``all`` or ``1,2``; FILTER is ``all`` or ``[SRC->DST] [KIND...]``
with SRC/DST ``*`` or ``1,2`` and KIND a message kind in kebab case: ``pre-prepare``, ``commit``,
``view-change``, ...)::

    cluster n=4 [checkpoint=K] [window=W] [timeout=T] [status=S] [add=A]   first: make the cluster
                                  (add=A: block A approves a validator n, who observes until then)
    propose NODE PAYLOAD          the primary NODE proposes the bytes PAYLOAD
    deliver FILTER                deliver the matching messages now in flight (their answers wait)
    stabilize [FILTER]            deliver matching messages, answers included, until none is left
    drop FILTER                   lose the matching messages now in flight
    cut FILTER / heal             lose every matching message sent from now on / stop that
    tick NODES [xN]               N logical ticks (``all``: the cluster's clock, live nodes)
    crash NODE / restart NODE     lose memory (not disk nor blocks) / rebuild from them
    status / inflight [FILTER]    each node's state / the messages in flight
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from consensus.params import Config
from consensus.messages import MESSAGE_TYPES, ConsensusError, StateEntry, describe
from consensus.persist import (
    BLOCK_PREFIX,
    SLOT_PREFIX,
    BlockRecord,
    CheckpointRecord,
    Record,
    SlotRecord,
    ViewRecord,
)
from consensus.replica import Replica
from consensus.sim.cluster import Cluster
from consensus.sim.fakecrypto import sha256
from consensus.sim.reconfig import Change, Plan

__all__ = ["STEPS", "Filter", "Script", "ScriptError", "kind_of", "parse_filter"]

STEPS = frozenset({
    "propose", "deliver", "stabilize", "drop", "cut", "heal", "tick", "crash", "restart",
})
"""Commands that change the scenario (the others only look)."""

CONFIG_KEYS = {
    "n": "n", "checkpoint": "checkpoint_interval", "window": "window",
    "timeout": "view_change_timeout_ticks", "status": "status_interval_ticks",
    "batch": "state_batch", "fetch-timeout": "state_request_timeout_ticks",
}


class ScriptError(ValueError):
    """A script that does not parse (its author's mistake, not the protocol's)."""


def _kebab(class_name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", class_name).lower()


def kind_of(msg: Any) -> str:
    """``PrePrepare`` -> ``pre-prepare``: the name a script uses for a message's type."""
    return _kebab(type(msg).__name__)


KINDS = frozenset(_kebab(name) for name in MESSAGE_TYPES)


@dataclass(frozen=True)
class Filter:
    """Which messages a command applies to (None: any)."""

    src: frozenset[int] | None = None
    dst: frozenset[int] | None = None
    kinds: frozenset[str] | None = None

    def matches(self, src: int, dst: int, msg: Any) -> bool:
        return (
            (self.src is None or src in self.src)
            and (self.dst is None or dst in self.dst)
            and (self.kinds is None or kind_of(msg) in self.kinds)
        )


def _ids(text: str) -> frozenset[int] | None:
    if text == "*":
        return None
    try:
        return frozenset(int(part) for part in text.split(","))
    except ValueError:
        raise ScriptError(f"not a replica list: {text!r}") from None


def parse_filter(words: list[str]) -> Filter:
    if words == ["all"]:
        return Filter()
    src = dst = kinds = None
    if words and "->" in words[0]:
        left, right = words[0].split("->", 1)
        src, dst, words = _ids(left), _ids(right), words[1:]
    if words:
        kinds = frozenset(k for word in words for k in word.split(","))
        unknown = kinds - KINDS
        if unknown:
            raise ScriptError(f"unknown message kind {sorted(unknown)}; kinds: {sorted(KINDS)}")
    if src is None and dst is None and kinds is None:
        raise ScriptError("say which messages: 'all', 'SRC->DST', kinds, or both")
    return Filter(src, dst, kinds)


@dataclass(frozen=True)
class _NodeView:
    """What the transcript compares, per node, before and after each event."""

    disk: dict[bytes, Record]
    blocks: frozenset[int]
    soft: tuple[int, bool, int, tuple[int, ...], int, bool] | None
    """(view, active, stable seq, log seqs); None while the node is down."""


def _short(digest: bytes) -> str:
    return digest.hex()[:8]


def _payload(data: bytes) -> str:
    if not data:
        return "null block"
    text = data.decode("ascii", "replace")
    return repr(text) if text.isprintable() and len(text) <= 40 else f"{len(data)}B"


def _spans(seqs: Iterable[int]) -> str:
    out: list[str] = []
    for s in sorted(seqs):
        if out and out[-1].split("..")[-1] == str(s - 1):
            out[-1] = f"{out[-1].split('..')[0]}..{s}"
        else:
            out.append(str(s))
    return ",".join(out)


def _record(key: bytes, rec: Record) -> str:
    if isinstance(rec, ViewRecord):
        epoch = f" (epoch {rec.epoch})" if rec.epoch else ""
        return f"view {rec.view} " + ("active" if rec.active else "(view change)") + epoch
    if isinstance(rec, CheckpointRecord):
        signers = ",".join(str(cp.sender) for cp in rec.proof)
        return f"checkpoint s={rec.seq} d={_short(rec.digest)} signed by {signers}"
    if isinstance(rec, BlockRecord):
        seq = int.from_bytes(key[len(BLOCK_PREFIX):len(BLOCK_PREFIX) + 8], "big")
        return f"block {seq} d={_short(key[len(BLOCK_PREFIX) + 8:])} ({_payload(rec.payload)})"
    assert isinstance(rec, SlotRecord)
    seq = int.from_bytes(key[len(SLOT_PREFIX):], "big")
    pp = rec.pre_prepare
    text = f"slot {seq} v={rec.view} " + (f"pre-prepare d={_short(pp.digest)}" if pp else "empty")
    if rec.proof is not None:
        text += f", prepared in v={rec.proof.pre_prepare.view} d={_short(rec.proof.pre_prepare.digest)}"
    return text


class Script:
    """Runs commands against a Cluster; ``run(line)`` returns that command's transcript."""

    def __init__(self) -> None:
        self.cluster: Cluster | None = None
        self._seen = 0
        """The highest network message number already reported as sent."""
        self._cuts: list[Filter] = []
        self._before: list[_NodeView] = []
        self._violations = 0

    # ------------------------------------------------------------------ commands

    def run(self, line: str) -> str:
        words = line.split()
        if not words:
            raise ScriptError("empty command")
        name, args = words[0], words[1:]
        handler: Callable[[list[str]], list[str]] | None = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            raise ScriptError(f"unknown command {name!r}")
        if (name == "cluster") != (self.cluster is None):
            raise ScriptError("'cluster n=...' comes first, and only once")
        out = handler(args)
        return "\n".join(out) if out else "ok"

    def _cmd_cluster(self, args: list[str]) -> list[str]:
        values: dict[str, int] = {}
        add: int | None = None
        for arg in args:
            key, _, value = arg.partition("=")
            if key == "add" and value.isdigit():
                add = int(value)
                continue
            if key not in CONFIG_KEYS or not value.isdigit():
                raise ScriptError(f"cluster takes {'=, '.join(CONFIG_KEYS)}=, add=: got {arg!r}")
            values[CONFIG_KEYS[key]] = int(value)
        if "n" not in values:
            raise ScriptError("cluster needs n=")
        config = Config(**values)  # type: ignore[arg-type]
        plan = None
        if add is not None:
            n = config.n
            members = tuple((m, 0) for m in range(n))
            plan = Plan(f"add-{n}", n + 1, members, (Change(add, (*members, (n, 0))),))
        self.cluster = Cluster(config.n, config=config, plan=plan)
        self._before = self._look()
        out = [f"{config.n} replicas, f={config.f}, quorum {config.quorum}, primary {config.primary(0)}"]
        return out + self._changes()

    def _cmd_propose(self, args: list[str]) -> list[str]:
        if len(args) != 2:
            raise ScriptError("propose NODE PAYLOAD")
        i, payload = self._node(args[0]), args[1].encode()
        try:
            self._replica(i).propose(payload, sha256(payload))
        except ConsensusError as exc:
            return [f"error: {exc}"]
        self._c.flush(i)
        return self._changes()

    def _cmd_deliver(self, args: list[str]) -> list[str]:
        out: list[str] = []
        for entry in self._c.network.take(self._numbers(parse_filter(args))):
            out += self._deliver(entry)
        return out or ["no messages"]

    def _cmd_stabilize(self, args: list[str]) -> list[str]:
        which = parse_filter(args) if args else Filter()
        out: list[str] = []
        while numbers := self._numbers(which):
            if len(out) > 100_000:
                raise ScriptError("stabilize: the messages never stop")
            for entry in self._c.network.take(numbers):
                out += self._deliver(entry)
        return out or ["no messages"]

    def _cmd_drop(self, args: list[str]) -> list[str]:
        taken = self._c.network.take(self._numbers(parse_filter(args)))
        return [f"dropped {line}" for line in self._grouped(taken)] or ["no messages"]

    def _cmd_cut(self, args: list[str]) -> list[str]:
        self._cuts.append(parse_filter(args))
        return []

    def _cmd_heal(self, args: list[str]) -> list[str]:
        self._no_args("heal", args)
        self._cuts = []
        return []

    def _cmd_tick(self, args: list[str]) -> list[str]:
        if not 1 <= len(args) <= 2 or (len(args) == 2 and not re.fullmatch(r"x\d+", args[1])):
            raise ScriptError("tick NODES [xN]")
        times = int(args[1][1:]) if len(args) == 2 else 1
        nodes = None if args[0] == "all" else sorted(_ids(args[0]) or ())
        out: list[str] = []
        for k in range(1, times + 1):
            if nodes is None:
                self._c.tick()
            else:
                for i in nodes:
                    self._replica(i).tick()
                    self._c.flush(i)
            changes = self._changes()
            if changes:
                out += [f"tick {k}:"] + [f"  {line}" for line in changes]
        return out

    def _cmd_crash(self, args: list[str]) -> list[str]:
        self._c.crash(self._node(*args))
        return self._changes()

    def _cmd_restart(self, args: list[str]) -> list[str]:
        i = self._node(*args)
        if self._c.nodes[i].replica is not None:
            return [f"error: {i} is running"]
        self._c.restart(i)
        return self._changes()

    def _cmd_status(self, args: list[str]) -> list[str]:
        self._no_args("status", args)
        out = []
        for node in self._c.nodes:
            r = node.replica
            if r is None:
                what = "down" if not node.up else "removed" if node.retired else "observing"
                out.append(f"{node.id}: {what}, height {node.height}")
                continue
            s = r.status()
            out.append(
                f"{node.id}: view {s.view} {'active' if s.active else 'changing'}, primary "
                f"{s.primary}, height {node.height}, stable {s.stable_seq}, log "
                f"[{_spans(r.log_seqs())}], next seq {s.next_seq}"
            )
        return out

    def _cmd_inflight(self, args: list[str]) -> list[str]:
        which = parse_filter(args) if args else Filter()
        msgs = [e for e in self._c.network.in_flight() if which.matches(e[1], e[2], e[3])]
        return self._grouped(msgs) or ["no messages"]

    # ------------------------------------------------------------------ events

    def _deliver(self, entry: tuple[int, int, int, Any]) -> list[str]:
        _, src, dst, msg = entry
        head = f"{src}->{dst} {describe(msg)}"
        outcome = self._c.deliver(src, dst, msg)
        if outcome is None:
            head += f" -> lost ({dst} is down)"
        elif outcome.reason is not None:
            head += f" -> {outcome}"
        return [head] + [f"  {line}" for line in self._changes()]

    def _changes(self) -> list[str]:
        """What changed since the last call, node by node: persisted, delivered, soft state,
        then sent (the write-ahead order). Messages matching a cut are lost on the way."""
        c = self._c
        fresh = [e for e in c.network.in_flight() if e[0] > self._seen]
        self._seen = max([self._seen] + [e[0] for e in fresh])
        cut = {e[0] for e in fresh if any(f.matches(e[1], e[2], e[3]) for f in self._cuts)}
        c.network.take(cut)
        after = self._look()
        out: list[str] = []
        for node, old, new in zip(c.nodes, self._before, after):
            i = node.id
            out += [f"{i} persist {line}" for line in self._disk_changes(old.disk, new.disk)]
            for seq in sorted(new.blocks - old.blocks):
                out.append(f"{i} deliver {self._block(node.store[seq])}")
            out += [f"{i} {line}" for line in self._soft_changes(old.soft, new.soft)]
            mine = [e for e in fresh if e[1] == i]
            out += self._grouped(mine, lost={e[0] for e in mine if e[0] in cut})
        self._before = after
        violations = c.checker.violations
        out += [f"SAFETY VIOLATION: {v}" for v in violations[self._violations:]]
        self._violations = len(violations)
        return out

    def _look(self) -> list[_NodeView]:
        views = []
        for node in self._c.nodes:
            r = node.replica
            soft = None if r is None else (
                r.view, r.active, r.stable_seq, tuple(r.log_seqs()), r.epoch.number, r.member
            )
            views.append(_NodeView(dict(node.disk), frozenset(node.store), soft))
        return views

    @staticmethod
    def _disk_changes(old: dict[bytes, Record], new: dict[bytes, Record]) -> list[str]:
        def order(key: bytes) -> tuple[int, bytes, int, bytes]:
            """Records of no slot first, then by seq: each block before the slot naming it."""
            for rank, prefix in ((1, BLOCK_PREFIX), (2, SLOT_PREFIX)):
                if key.startswith(prefix):
                    return (1, key[len(prefix):len(prefix) + 8], rank, key)
            return (0, b"", 0, key)
        out = [_record(k, new[k]) for k in sorted(new, key=order) if old.get(k) != new[k]]
        for kind, prefix in (("slot", SLOT_PREFIX), ("block", BLOCK_PREFIX)):
            gone = {int.from_bytes(k[len(prefix):len(prefix) + 8], "big") for k in old if k not in new and k.startswith(prefix)}
            if gone:
                out.append(f"delete {kind} {_spans(gone)}")
        return out

    @staticmethod
    def _soft_changes(
        old: tuple[int, bool, int, tuple[int, ...], int, bool] | None,
        new: tuple[int, bool, int, tuple[int, ...], int, bool] | None,
    ) -> list[str]:
        if new is None:
            return [] if old is None else ["crashed: memory lost, disk and blocks kept"]
        view, active, stable, log, epoch, member = new
        if old is None:
            state = "active" if active else "changing"
            where = f"epoch {epoch}, " if epoch else ""
            return [f"restarted: {where}view {view} {state}, stable {stable}, log [{_spans(log)}]"]
        out = []
        if epoch != old[4]:
            out.append(f"entered epoch {epoch}" + ("" if member else " (not a member: stops)"))
        if (view, active) != old[:2]:
            out.append(f"view {view} active" if active else f"view change to {view}")
        if stable != old[2]:
            out.append(f"stable checkpoint {stable}, log now [{_spans(log)}]")
        return out

    def _block(self, entry: StateEntry) -> str:
        cert = entry.certificate
        signers = ",".join(str(s) for s, _ in cert.signatures)
        return (f"s={entry.seq} d={_short(entry.digest)} {_payload(entry.payload)} "
                f"(committed in v={cert.view} by {signers})")

    def _grouped(
        self, entries: list[tuple[int, int, int, Any]], lost: frozenset[int] | set[int] = frozenset()
    ) -> list[str]:
        """One line per message object: a broadcast's copies make ``0->*`` (or ``0->1,2``)."""
        groups: list[list[tuple[int, int, int, Any]]] = []
        for e in entries:
            if groups and groups[-1][0][1] == e[1] and groups[-1][0][3] is e[3]:
                groups[-1].append(e)
            else:
                groups.append([e])
        out = []
        for group in groups:
            src, msg = group[0][1], group[0][3]
            dsts = [e[2] for e in group]
            cut = ",".join(str(e[2]) for e in group if e[0] in lost)
            to = "*" if dsts == [d for d in range(self._c.n) if d != src] else ",".join(map(str, dsts))
            out.append(f"{src}->{to} {describe(msg)}" + (f" (cut to {cut})" if cut else ""))
        return out

    # ------------------------------------------------------------------ helpers

    @property
    def _c(self) -> Cluster:
        assert self.cluster is not None
        return self.cluster

    @staticmethod
    def _no_args(name: str, args: list[str]) -> None:
        if args:
            raise ScriptError(f"{name} takes no arguments: got {' '.join(args)!r}")

    def _numbers(self, which: Filter) -> set[int]:
        return {e[0] for e in self._c.network.in_flight() if which.matches(e[1], e[2], e[3])}

    def _node(self, *args: str) -> int:
        if len(args) != 1 or not args[0].isdigit() or int(args[0]) >= self._c.n:
            raise ScriptError(f"not a replica: {' '.join(args)!r}")
        return int(args[0])

    def _replica(self, i: int) -> Replica:
        r = self._c.nodes[i].replica
        if r is None:
            raise ScriptError(f"replica {i} is down")
        return r
