"""Only node.rpc.server may import aiohttp: the envelope, the methods and the metrics are pure."""

from __future__ import annotations

import subprocess
import sys


def test_pure_modules_do_not_import_aiohttp() -> None:
    code = (
        "import sys, node.rpc.jsonrpc, node.rpc.methods, node.metrics\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('aiohttp', 'plyvel', 'websockets'))\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
