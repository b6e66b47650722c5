"""A pytest plugin for projects that integrate with WarrantChain: a ``localnet`` fixture.

Installed with the ``warrantchain`` package, it is found through its ``pytest11`` entry point (no
``conftest.py`` needed). ``localnet`` is a running local network of validator processes on
127.0.0.1 (a node.sdk.localnet.LocalNet): one per test session, started on first use and stopped by
pid when the session ends, whatever happened. Its directory holds ``admin.pem`` (the alliance
admin's key) and ``genesis.json``; ``localnet.client(i)`` talks to validator ``i``.

Asyncio: the fixture itself is synchronous (it starts processes and waits for them), so it works
under any event-loop setup. The SDK (node.sdk.client) is async, so tests that use it are coroutines
run by pytest-asyncio: mark them ``@pytest.mark.asyncio`` or set ``asyncio_mode = auto`` in your
pytest configuration (docs/SDK.md has a complete example).

Options (pytest.ini / pyproject ``[tool.pytest.ini_options]``): ``warrantchain_validators``
(default 4), ``warrantchain_observers`` (default 0; observer ``j`` is ``localnet.client(validators + j)``)
and ``warrantchain_log_level`` (default warning). ``WARRANTCHAIN_PORT_RANGE=LO-HI``
chooses the ports, as for this project's own suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from node.sdk.localnet import LocalNet

__all__ = ["localnet"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("warrantchain_validators", "validators in the localnet fixture's network", default="4")
    parser.addini("warrantchain_observers", "observers (nodes that follow without voting) in the localnet fixture's network",
                  default="0")
    parser.addini("warrantchain_log_level", "log level of the localnet fixture's validators", default="warning")


@pytest.fixture(scope="session")
def localnet(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    """A running local WarrantChain network for the whole test session (stopped at its end)."""
    count = int(str(request.config.getini("warrantchain_validators")))
    net = LocalNet(tmp_path_factory.mktemp("warrantchain"), count,
                   log_level=str(request.config.getini("warrantchain_log_level")),
                   observers=int(str(request.config.getini("warrantchain_observers"))))
    try:
        net.start_all()
        asyncio.run(net.wait_ready(timeout=90))
        yield net
    finally:
        net.stop_all()
