"""Log lines: one per event, ``time level node event key=value ...``, quiet (warnings) by default.

Logs can't flood: :class:`Throttle` logs a repeated warning once per interval with a count of the
ones it held back, and :class:`FloodFilter` (installed by :func:`setup_logging`) does the same for
any record whose first line repeats, e.g. the event loop's ``socket.accept() out of system
resource`` or a library's traceback, so an abusive client can't fill the disk through the log.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["setup_logging", "kv", "Throttle", "FloodFilter", "FLOOD_INTERVAL_S"]

FLOOD_INTERVAL_S = 10.0
_MAX_KEYS = 1024


def setup_logging(node_name: str, level: str = "warning") -> logging.Logger:
    """Configure the root logger to write one line per event to stderr; returns the node's logger."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(f"%(asctime)s %(levelname)s {node_name} %(name)s %(message)s", "%Y-%m-%dT%H:%M:%S")
    )
    handler.addFilter(FloodFilter())
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


class _Window:
    """Counts, per key, what was held back since the last line let through."""

    def __init__(self, interval: float, clock: Callable[[], float]) -> None:
        self.interval = interval
        self.clock = clock
        self._seen: dict[object, tuple[float, int]] = {}  # key -> (when last let through, held back since)

    def allow(self, key: object) -> int | None:
        """None to hold this one back; else how many were held back before it."""
        now = self.clock()
        last, held = self._seen.get(key, (float("-inf"), 0))
        if now - last < self.interval:
            self._seen[key] = (last, held + 1)
            return None
        if len(self._seen) >= _MAX_KEYS and key not in self._seen:
            self._seen = {k: v for k, v in self._seen.items() if now - v[0] < self.interval}
            if len(self._seen) >= _MAX_KEYS:
                return None
        self._seen[key] = (now, 0)
        return held


class Throttle:
    """``warning(key, msg, *args)``: at most one line per ``key`` per interval, with a count."""

    def __init__(self, logger: logging.Logger, interval: float = FLOOD_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.logger = logger
        self._window = _Window(interval, clock)

    def warning(self, key: str, msg: str, *args: Any) -> None:
        held = self._window.allow(key)
        if held is None:
            return
        suffix = f" ({held} more in the last {self._window.interval:.0f}s)" if held else ""
        self.logger.warning(msg + suffix, *args)


class FloodFilter(logging.Filter):
    """Lets a record through unless one with the same logger, level and first line passed within
    the interval; the next one let through says how many were held back. CRITICAL always passes."""

    def __init__(self, interval: float = FLOOD_INTERVAL_S, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window = _Window(interval, clock)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.CRITICAL:
            return True
        try:
            first = record.getMessage().split("\n", 1)[0][:200]
        except Exception:  # a record that can't be formatted: let logging report it
            return True
        held = self._window.allow((record.name, record.levelno, first))
        if held is None:
            return False
        if held:
            record.msg = f"{record.getMessage()} ({held} more like this in the last {self._window.interval:.0f}s)"
            record.args = None
        return True
