"""The consensus core is sans-I/O: no network, disk, clock, threads or node/ imports."""

from __future__ import annotations

import ast
import pathlib

import consensus

FORBIDDEN = {
    "asyncio", "socket", "selectors", "threading", "multiprocessing", "subprocess", "time",
    "datetime", "plyvel", "websockets", "aiohttp", "node", "os", "sqlite3", "cryptography",
}


def imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_consensus_imports_nothing_that_does_io() -> None:
    root = pathlib.Path(consensus.__file__).parent
    files = sorted(root.rglob("*.py"))
    assert len(files) > 10
    for path in files:
        for name in imported_modules(path):
            top = name.split(".")[0]
            assert top not in FORBIDDEN, f"{path.relative_to(root)} imports {name}"


def test_core_does_not_import_the_simulator() -> None:
    root = pathlib.Path(consensus.__file__).parent
    for path in root.glob("*.py"):
        for name in imported_modules(path):
            assert not name.startswith("consensus.sim"), f"{path.name} imports {name}"
