"""Datadriven files (cockroachdb/datadriven, as etcd raft uses them) for consensus.sim.script.

A file is a list of blocks: comment lines (``#``) and blank lines, one command line, a ``----``
line, then the expected output up to the next blank line (outputs never contain one)::

    # The primary proposes; the pre-prepares are still in flight.
    propose 0 blockA
    ----
    0 persist slot 1 v=0 pre-prepare d=62e2f457
    0->* PrePrepare(v=0 s=1 d=62e2f457 6B from=0)

``render`` writes the file back with actual outputs, so comparing a file with its rendering
checks every block at once, and writing the rendering rewrites the file.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.sim.script import Script

SEPARATOR = "----"


@dataclass(frozen=True)
class Block:
    line: int
    """1-based line number of the command in its file."""
    before: tuple[str, ...]
    """Comment and blank lines above the command, kept as written."""
    command: str
    expected: str


def parse(text: str) -> tuple[list[Block], tuple[str, ...]]:
    """The blocks of a file, and the comment/blank lines after the last one."""
    lines = text.splitlines()
    blocks: list[Block] = []
    before: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            before.append(line)
            i += 1
            continue
        if i + 1 >= len(lines) or lines[i + 1] != SEPARATOR:
            raise ValueError(f"line {i + 1}: command {line!r} must be followed by {SEPARATOR!r}")
        j = i + 2
        while j < len(lines) and lines[j].strip():
            j += 1
        blocks.append(Block(i + 1, tuple(before), line, "\n".join(lines[i + 2:j])))
        before = []
        i = j
    return blocks, tuple(before)


def run(commands: list[str]) -> list[str]:
    """Each command's transcript, from a fresh Script."""
    script = Script()
    return [script.run(command) for command in commands]


def render(blocks: list[Block], outputs: list[str], after: tuple[str, ...] = ()) -> str:
    lines: list[str] = []
    for block, output in zip(blocks, outputs):
        assert "\n\n" not in output and output.strip(), f"line {block.line}: output has a blank line"
        lines += [*block.before, block.command, SEPARATOR, output]
    lines += after
    return "\n".join(lines) + "\n"


def first_mismatch(blocks: list[Block], outputs: list[str]) -> Block | None:
    """The first block whose output differs from the expected one."""
    return next((b for b, out in zip(blocks, outputs) if out != b.expected), None)
