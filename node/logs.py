"""Log lines: one per event, ``time level node event key=value ...``, quiet (warnings) by default."""

from __future__ import annotations

import logging
import sys
from typing import Any

__all__ = ["setup_logging", "kv"]


def setup_logging(node_name: str, level: str = "warning") -> logging.Logger:
    """Configure the root logger to write one line per event to stderr; returns the node's logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s {node_name} %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    return logging.getLogger("warrantd")


def kv(event: str, **fields: Any) -> str:
    """``event key=value ...`` with values that contain spaces quoted."""
    parts = [event]
    for key, value in fields.items():
        text = str(value)
        parts.append(f"{key}={text!r}" if " " in text else f"{key}={text}")
    return " ".join(parts)
