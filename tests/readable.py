"""What text meant for people must never show: fen, epoch milliseconds, Python reprs, regexes.

Used by the CLI and demo tests on everything those print (stdout and stderr)."""

from __future__ import annotations

import re

__all__ = ["assert_readable"]

_FORBIDDEN = {
    "an amount in fen": re.compile(r"\d[\d,]*\s*fen\b"),
    "epoch milliseconds": re.compile(r"(?<![\w.:-])1[5-9]\d{11}(?![\w.])"),
    "a Python dict or list repr": re.compile(r"[\[{(]\s*'|\{'[\w]+':"),
    "a Python None/True/False": re.compile(r"\b(None|True|False)\b"),
    "a Python bytes repr": re.compile(r"\bb'"),
    "a regex": re.compile(r"matching regex|\[0-9a-f\]|\^wc"),
    "a traceback": re.compile(r"Traceback \(most recent call last\)"),
}


def assert_readable(text: str, what: str) -> None:
    """Fail naming the first thing in ``text`` a person should not have to read."""
    for name, pattern in _FORBIDDEN.items():
        found = pattern.search(text)
        if found:
            start = max(0, found.start() - 80)
            raise AssertionError(f"{what} shows {name}: ...{text[start:found.end() + 80]}...")
