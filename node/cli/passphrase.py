"""Key-file passphrases for both command lines (``warrant`` and ``warrantd``), one way only.

A passphrase comes from the environment variable ``WARRANT_PASSPHRASE`` (for scripts and service
managers) or from a prompt on the terminal (``--passphrase-prompt``, or by itself when an
encrypted key file is read on a terminal and the variable is unset). Never from the command line:
arguments are visible to every user of the machine (``ps``) and stay in shell histories.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from pathlib import Path

from node.errors import CryptoError
from node.kernel import crypto

__all__ = ["ENV", "add_arguments", "for_new_key", "from_env", "load_key"]

ENV = "WARRANT_PASSPHRASE"


class _Refuse(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        parser.error(f"--passphrase: a passphrase on the command line is visible to every user of this machine; "
                     f"set ${ENV} or pass --passphrase-prompt")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--passphrase-prompt``, and a ``--passphrase`` that explains why it is refused."""
    parser.add_argument("--passphrase-prompt", action="store_true",
                        help=f"ask for the key file's passphrase on the terminal (else ${ENV}, if set)")
    parser.add_argument("--passphrase", nargs="?", action=_Refuse, help=argparse.SUPPRESS)


def from_env(name: str) -> bytes | None:
    """The passphrase in environment variable ``name`` (None if the name or the value is empty)."""
    value = os.environ.get(name, "") if name else ""
    return value.encode() if value else None


def _prompt(text: str) -> bytes:
    try:
        return getpass.getpass(text).encode()
    except (EOFError, KeyboardInterrupt):
        raise CryptoError("no passphrase given") from None


def for_new_key(prompt: bool) -> bytes | None:
    """The passphrase to encrypt a new key file with (None: not encrypted)."""
    if prompt:
        first = _prompt("passphrase for the new key file: ")
        if _prompt("the same passphrase again: ") != first:
            raise CryptoError("the two passphrases differ; nothing was written")
        return first or None
    value = os.environ.get(ENV)
    return value.encode() if value else None


def load_key(path: Path, prompt: bool = False, env: str = ENV) -> crypto.SigningKey:
    """Read a key file, with the passphrase from ``$env`` or the terminal when it is encrypted."""
    if prompt:
        return crypto.load_key(path, _prompt(f"passphrase for {path}: "))
    value = os.environ.get(env)
    try:
        return crypto.load_key(path, value.encode() if value else None)
    except CryptoError as exc:
        if value or "encrypted" not in str(exc):
            raise
        if not sys.stdin.isatty():
            raise CryptoError(f"key file {path} is encrypted: set ${env} or pass --passphrase-prompt") from None
    return crypto.load_key(path, _prompt(f"passphrase for {path}: "))
