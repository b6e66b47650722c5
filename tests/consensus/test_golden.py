"""Golden transcripts: scripted PBFT scenarios checked line by line (docs/TESTING.md).

Every file in tests/consensus/golden/ is a datadriven script for consensus.sim.script; its
expected output is what the cluster printed when the file was last rewritten and read. Rewrite
after an intended change of behaviour with

    WARRANTCHAIN_GOLDEN_REWRITE=1 .venv/bin/python -m pytest tests/consensus/test_golden.py

and read the diff before committing it: a changed line is a changed protocol.
"""

from __future__ import annotations

import difflib
import itertools
import os
from dataclasses import replace
from pathlib import Path

import pytest

from consensus.sim.script import STEPS, ScriptError

from .datadriven import Block, first_mismatch, parse, render, run

GOLDEN = Path(__file__).parent / "golden"
FILES = sorted(GOLDEN.glob("*.txt"))
SCENARIOS = {"normal_case", "view_change_prepared", "checkpoint", "state_transfer"}


def test_the_four_scenarios_are_there() -> None:
    assert {f.stem for f in FILES} >= SCENARIOS


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_transcript(path: Path) -> None:
    text = path.read_text()
    blocks, after = parse(text)
    actual = render(blocks, run([b.command for b in blocks]), after)
    if os.environ.get("WARRANTCHAIN_GOLDEN_REWRITE") == "1":
        path.write_text(actual)
        return
    if actual != text:
        diff = "".join(difflib.unified_diff(
            text.splitlines(True), actual.splitlines(True), str(path), "actual", n=2
        ))
        pytest.fail(f"{path.name} differs from its transcript (rewrite with "
                    f"WARRANTCHAIN_GOLDEN_REWRITE=1 if intended):\n{diff}")


def _fails(blocks: list[Block]) -> bool:
    """Would test_transcript fail on a file made of these blocks (expected outputs kept)?"""
    try:
        outputs = run([b.command for b in blocks])
    except Exception:  # noqa: BLE001 -- a command the mutated scenario cannot run fails it too
        return True
    return first_mismatch(blocks, outputs) is not None


@pytest.mark.parametrize("path", FILES, ids=[f.stem for f in FILES])
def test_every_step_of_the_scenario_is_checked(path: Path) -> None:
    """Edit the file as a careless hand would: delete any one step (a delivery, a drop, a tick,
    a crash...) with its output, or swap the command lines of two neighbouring steps. Either
    way the transcript no longer matches: no step is dead weight, and each one's expected
    output pins what it does."""
    blocks, _ = parse(path.read_text())
    assert not _fails(blocks)
    # A refused command ("error: ...") changed nothing: like a look, only its own output counts.
    steps = [
        k for k, b in enumerate(blocks)
        if b.command.split()[0] in STEPS and not b.expected.startswith("error:")
    ]
    assert len(steps) >= 5
    unchecked = [blocks[k].command for k in steps if not _fails(blocks[:k] + blocks[k + 1:])]
    assert unchecked == [], f"deleting these steps changes nothing checked: {unchecked}"
    swaps = []
    for j, k in itertools.pairwise(steps):
        swapped = list(blocks)
        swapped[j] = replace(blocks[j], command=blocks[k].command)
        swapped[k] = replace(blocks[k], command=blocks[j].command)
        if blocks[j].command != blocks[k].command and not _fails(swapped):
            swaps.append((blocks[j].command, blocks[k].command))
    assert swaps == [], f"swapping these steps changes nothing checked: {swaps}"


@pytest.mark.parametrize("commands", [
    ["propose 0 a"],                              # no cluster yet
    ["cluster n=4", "cluster n=4"],
    ["cluster n=4 quorum=2"],                     # not a setting
    ["cluster n=4", "explode 0"],
    ["cluster n=4", "deliver"],                   # which messages?
    ["cluster n=4", "deliver 0->1 prepares"],     # not a message kind
    ["cluster n=4", "tick all 5"],
    ["cluster n=4", "crash 4"],
    ["cluster n=4", "crash 1", "tick 1"],         # a crashed replica does not tick
])
def test_a_script_that_does_not_parse_is_an_error_not_a_transcript(commands: list[str]) -> None:
    with pytest.raises(ScriptError):
        run(commands)
