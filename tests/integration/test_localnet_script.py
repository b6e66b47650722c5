"""`scripts/localnet`, the README's way to get a running network, run exactly as the README gives it
(from the repository root, default ``--dir localnet``): up, serving, and all stopped on Ctrl-C."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from node.sdk.localnet import ROOT


def _pids_of(directory: Path) -> list[str]:
    out = subprocess.run(["pgrep", "-f", "--", f"--config {directory}/v"], capture_output=True, text=True)
    return out.stdout.split()


def test_localnet_as_the_readme_gives_it_starts_serves_and_stops_every_node_on_ctrl_c() -> None:
    directory = ROOT / "localnet"  # the default --dir, relative to the repository root
    existed = directory.exists()
    proc = subprocess.Popen(
        ["scripts/localnet"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, stdin=subprocess.DEVNULL,
    )
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 120
        while not any("press Ctrl-C" in line for line in lines):
            line = proc.stdout.readline() if proc.stdout else ""
            assert line, f"localnet exited early: {''.join(lines)}"
            lines.append(line)
            assert time.monotonic() < deadline, "localnet did not come up"
        urls = [line.split()[2] for line in lines if line.split()[:1] in (["v0"], ["v1"], ["v2"], ["v3"])]
        assert len(urls) == 4, lines
        for url in urls:
            request = urllib.request.Request(
                url, data=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "chain_status"}).encode(),
                headers={"Content-Type": "application/json"},
            )
            status = json.loads(urllib.request.urlopen(request, timeout=10).read())["result"]
            assert status["chain_id"] == "warrant-local" and status["peers"] == 3
        assert len(_pids_of(directory)) == 4
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, rest
        assert "all validators stopped" in rest
        assert _pids_of(directory) == [], "a validator outlived scripts/localnet"
    finally:
        if proc.poll() is None:  # a failed assertion: let localnet stop its validators first
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(30)
        for pid in _pids_of(directory):
            subprocess.run(["kill", "-9", pid])
        if not existed:  # the test made it; a user's own localnet/ is left as it was
            shutil.rmtree(directory, ignore_errors=True)
