"""scripts/demo, run as a user runs it (the bash wrapper, its own 4-validator network), tells the
whole story and exits 0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.readable import assert_readable

ROOT = Path(__file__).resolve().parents[2]

# What the story must show, in order (each is a substring of one output line).
STORY = [
    "registers the enterprises",
    "grants Huaxin Motors (core enterprise) a credit line of 2,000,000.00 CNY",
    "anchors invoice",
    "confirms the invoice it owes",
    "issues a warrant of 1,000,000.00 CNY to Delta Seats Co. (tier 1)",
    "Delta Seats Co. (tier 1) accepts it",
    "splits it into 400,000.00 CNY and 600,000.00 CNY",
    "Jiangnan Foam Ltd. (tier 2) accepts 400,000.00 CNY",
    "passes 150,000.00 CNY to Minhang Textile Workshop (tier 3)",
    "factors its 150,000.00 CNY at Yangtze Commercial Bank",
    "error code: DOCUMENT_EXISTS",
    "error code: NOT_HOLDER",
    "freezes",
    "error code: WARRANT_FROZEN",
    "unfrozen; status active",
    "settles the issuance",
    "paid       150,000.00 CNY to Yangtze Commercial Bank",
    "paid       250,000.00 CNY to Jiangnan Foam Ltd. (tier 2)",
    "paid       600,000.00 CNY to Delta Seats Co. (tier 1)",
    "total 1,000,000.00 CNY",
    "The lineage of the issuance",
    "└─",
    "verified offline",
    "verified: warrant",
    "validator signatures checked",
    "The story's warrant in the explorer: http://127.0.0.1:",
    "The story is told.",
    "validators stopped",
]


@pytest.mark.timeout(280)
def test_scripts_demo_tells_the_whole_story(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    if not (ROOT / ".venv" / "bin" / "python").exists():
        # scripts/demo makes the checkout's .venv on first use (as scripts/test does); in a run
        # that is not from scripts/test, let it be made from the interpreter running the tests.
        env["PYTHON"] = sys.executable
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo"), "--dir", str(tmp_path / "net"), "--maturity-seconds", "8"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=270, check=False,
    )
    print(done.stdout)
    assert done.returncode == 0, f"scripts/demo exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    assert_readable(done.stdout + done.stderr, "scripts/demo")  # no fen, epoch ms, reprs or regexes
    lines = done.stdout.splitlines()
    position = 0
    for expected in STORY:
        found = next((i for i in range(position, len(lines)) if expected in lines[i]), None)
        assert found is not None, f"the story is missing {expected!r} (after line {position})"
        position = found
