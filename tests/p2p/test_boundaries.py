"""The module rules of DESIGN.md section 3 that concern the mesh."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_only_p2p_imports_websockets() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("node", "consensus")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.relative_to(ROOT).as_posix() != "node/p2p/mesh.py" and "websockets" in imported(path)
    ]
    assert offenders == []


def test_handshake_is_sans_io() -> None:
    assert imported(ROOT / "node" / "p2p" / "handshake.py").isdisjoint({"asyncio", "websockets", "socket", "ssl", "time"})
