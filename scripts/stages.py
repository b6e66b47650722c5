"""Per-stage CPU of a node from py-spy samples: where a committed transaction's CPU goes.

``scripts/bench --profile DIR`` records every validator with ``py-spy record --format raw`` (one
line per distinct stack: ``frame;frame;... count``, root first, each frame ``func (file:line)``;
idle samples, a thread waiting in epoll, are not recorded, so every sample is CPU) and hands the
files to :func:`breakdown`. A sample belongs to the stage of its **innermost** frame that a rule
below matches, so a signature verified during admission counts as verification, and what aiohttp
or websockets do around our own handlers counts as their framing. The shares, times the node
CPU per committed transaction measured from /proc over the same run, give microseconds per
transaction per stage (all validators together).

Usage: python -m scripts.stages FILE... [--cpu-ms-per-tx X]
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from collections.abc import Iterable
from pathlib import Path

# (stage, regex over one frame "func (file:line)"); the innermost matching frame decides; where
# two rules match the same frame, the first.
RULES: list[tuple[str, str]] = [
    ("verify tx signatures", r"^(verify|PublicKey\.verify|SignedTx\.verify|SignedTx\.check_sender|_signature_to_der|_parse_public_key) \("),
    ("consensus signatures", r"^(_Verifier\.verify|_Signer\.sign|SigningKey\.sign|Checker\.signed) \("),
    ("state root", r"^(element|root_of|full_accumulator|Overlay\.finish) \("),
    ("payload schema", r"^check_payload \("),
    ("execution (ledger)", r"\(node/ledger/"),
    ("store batch", r"^(Store\.commit_block|Store\._put_state|Store\.put_consensus|Store\._refuse_overwrite) \("),
    ("store reads", r"^(Store\.|StateReader\.)"),
    ("events / commit callbacks", r"^(NodeService\._on_commit|RpcServer\.publish_block|RpcServer\._offer|RpcServer\._send_loop) \("),
    ("tx decode (SignedTx)", r"^(SignedTx\.__init__|decode_tx|tx_from_envelope|SignedTx\.envelope) \("),
    ("block decode/encode", r"^(decode_block|_encode_block|make_block|Application\._decode|merkle_root) \("),
    ("proposal building", r"^(Application\.propose|Mempool\.take|Node\._propose) \("),
    ("proposal check", r"^Application\.check_proposal \("),
    ("mempool admission", r"^(Mempool\.\w+|VerifiedCache\.\w+|sender_registered) \("),
    ("relay decode (admit relayed)", r"^Gossip\.admit_frame \("),
    ("relay framing (send)", r"^(Gossip\._flush_relay|frame_txs|Relay\.\w+) \("),
    ("consensus (replica)", r"\(consensus/"),
    ("mesh (p2p shell)", r"\(node/p2p/"),
    ("websockets", r"\(websockets/"),
    ("rpc methods / service", r"\(node/(service|rpc/methods|rpc/api|rpc/params|rpc/server|rpc/guard)\.py"),
    ("json-rpc envelope", r"\(node/rpc/jsonrpc\.py"),
    ("aiohttp", r"\(aiohttp/|\(multidict/|\(yarl/"),
    ("daemon (pump, ticks)", r"\(node/(node|app)\.py"),
    ("logging", r"\(logging/|\(node/logs\.py"),
]
# Generic layers, used only when no frame of a stack matches a rule above: the codec's and
# msgspec's work counts for its caller's stage, the event loop for what it runs.
GENERIC: list[tuple[str, str]] = [
    ("codec (callers unknown)", r"\(node/kernel/codec\.py|\(msgspec/"),
    ("asyncio loop", r"\(asyncio/|\(uvloop/|selectors\.py|\(<frozen"),
]
_COMPILED = [(stage, re.compile(rule)) for stage, rule in RULES]
_GENERIC = [(stage, re.compile(rule)) for stage, rule in GENERIC]
_LINE = re.compile(r"^(.*) (\d+)$")


def classify(frames: list[str]) -> str:
    for rules in (_COMPILED, _GENERIC):
        for frame in reversed(frames):
            for stage, rule in rules:
                if rule.search(frame):
                    return stage
    return "other"


def breakdown(lines: Iterable[str]) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter()
    for line in lines:
        match = _LINE.match(line.rstrip("\n"))
        if match is None:
            continue
        stack, count = match.group(1), int(match.group(2))
        counts[classify(stack.split(";"))] += count
    return counts


def read(paths: Iterable[Path]) -> collections.Counter[str]:
    total: collections.Counter[str] = collections.Counter()
    for path in paths:
        with open(path) as handle:
            total.update(breakdown(handle))
    return total


def table(counts: collections.Counter[str], cpu_ms_per_tx: float | None) -> list[tuple[str, float, float | None]]:
    """(stage, share, µs per committed tx or None), largest first."""
    samples = sum(counts.values()) or 1
    return [
        (stage, n / samples, None if cpu_ms_per_tx is None else n / samples * cpu_ms_per_tx * 1000)
        for stage, n in counts.most_common()
    ]


def print_table(rows: list[tuple[str, float, float | None]], out: object = sys.stdout) -> None:
    for stage, share, micros in rows:
        extra = "" if micros is None else f"  {micros:7.1f} µs/tx"
        print(f"  {stage:<30} {share:6.1%}{extra}", file=out)  # type: ignore[call-overload]


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/stages", description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--cpu-ms-per-tx", type=float, help="node CPU per committed tx (all validators)")
    parser.add_argument("--show", help="print the heaviest stacks of this stage")
    args = parser.parse_args()
    if args.show:
        stacks: collections.Counter[str] = collections.Counter()
        for path in args.files:
            for line in open(path):
                match = _LINE.match(line.rstrip("\n"))
                if match and classify(match.group(1).split(";")) == args.show:
                    frames = [re.sub(r" \(.*:\d+\)$", "", f) + "@" + f.rsplit("/", 1)[-1].split(":")[0]
                              for f in match.group(1).split(";")]
                    stacks[";".join(frames[-6:])] += int(match.group(2))
        for stack, n in stacks.most_common(25):
            print(f"{n:6d} {stack}")
        return 0
    print_table(table(read(args.files), args.cpu_ms_per_tx))
    return 0


if __name__ == "__main__":
    sys.exit(main())
