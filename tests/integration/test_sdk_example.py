"""docs/SDK.md's example runs as an outside project would run it: copied into an empty directory
(no conftest, no ini) and run by pytest with nothing but the installed plugin's `localnet` fixture."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from node.sdk.localnet import ROOT


def _example() -> str:
    text = (ROOT / "docs" / "SDK.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    example = [b for b in blocks if "def test_" in b]
    assert len(example) == 1, "docs/SDK.md must hold exactly one complete example test"
    return example[0]


def test_the_plugin_is_registered_by_its_entry_point() -> None:
    plugins = {e.name: e.value for e in entry_points(group="pytest11")}
    assert plugins.get("warrantchain") == "node.sdk.pytest_plugin", "reinstall the package (scripts/setup-venv)"
    assert (ROOT / "node" / "py.typed").exists()


@pytest.mark.timeout(240)
def test_the_sdk_example_runs_through_the_plugin(tmp_path: Path) -> None:
    (tmp_path / "test_warrant_flow.py").write_text(_example())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTEST_ADDOPTS", "PYTEST_PLUGINS")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_warrant_flow.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=230, check=False,
    )
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
