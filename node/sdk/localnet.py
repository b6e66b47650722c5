"""A local network of validator (and observer) processes on 127.0.0.1, for ``scripts/localnet``,
the demo, the benchmark and the integration tests: one piece of code starts, kills and restarts them all.

Nodes are numbered validators first (``v0`` … ``v{count-1}``), then observers (``o0`` …, index
``count + j``): every method that takes an index takes either.

Processes are started with ``python -m node.cli.warrantd start`` and always stopped by pid.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

from node.cli.warrantd import localnet_name, write_localnet
from node.sdk.client import Client, RpcCallError
from node.sdk.results import ChainStatus

__all__ = ["LocalNet", "free_base_port"]

ROOT = Path(__file__).resolve().parents[2]


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


_DEFAULT_PORTS = (20000, 32000)


def _default_port_range() -> tuple[int, int]:
    """Below the kernel's ephemeral range: a port chosen there can be taken, between our probe and
    the node's bind, as the source port of some outgoing connection (a test opening thousands)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _DEFAULT_PORTS
    return (10000, low) if low >= 14000 else _DEFAULT_PORTS


def _port_range() -> tuple[int, int]:
    """The ports clusters may use: ``WARRANTCHAIN_PORT_RANGE=LO-HI``, by default the ports below
    the kernel's ephemeral range (10000-32768 on Linux's default).

    Two suites run side by side on one machine each get their own range, so neither dials the
    other's nodes."""
    spec = os.environ.get("WARRANTCHAIN_PORT_RANGE", "")
    try:
        lo, hi = (int(part) for part in spec.split("-"))
    except ValueError:
        return _default_port_range()
    return (lo, hi) if 1024 <= lo and lo + 400 <= hi <= 65535 else _default_port_range()


def free_base_port(count: int, rnd: random.Random | None = None) -> int:
    """A base port B such that B..B+count-1 (p2p) and B+100.. (RPC) are free on 127.0.0.1."""
    rnd = rnd or random.Random()
    lo, hi = _port_range()
    for _ in range(200):
        base = rnd.randrange(lo, hi - 200, 200)
        if all(_port_free(base + i) and _port_free(base + 100 + i) for i in range(count)):
            return base
    raise RuntimeError("no free port range found on 127.0.0.1")


class LocalNet:
    """``count`` validators (and ``observers`` observers, listed in genesis) whose keys, genesis,
    configs, data and logs live in ``directory``."""

    def __init__(self, directory: Path, count: int = 4, base_port: int | None = None, log_level: str = "info",
                 observers: int = 0) -> None:
        # Absolute: each validator runs with its own directory as cwd, so a relative path given
        # here (scripts/localnet's default "localnet") would no longer name its config file.
        self.directory = Path(directory).resolve()
        self.count = count
        self.log_level = log_level
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        self._logs: dict[int, IO[bytes]] = {}
        if (self.directory / "genesis.json").exists():
            self.base_port = self._read_base_port()
            self.observers = len(list(self.directory.glob("o*.toml")))
        else:
            self.observers = observers
            self.base_port = base_port or free_base_port(count + observers)
            write_localnet(self.directory, count, self.base_port, observers=observers)

    def name(self, index: int) -> str:
        """``v{index}`` for a validator, ``o{j}`` for observer ``j`` (index ``count + j``)."""
        return localnet_name(index, self.count)

    @property
    def observer_indices(self) -> list[int]:
        return list(range(self.count, self.count + self.observers))

    def _read_base_port(self) -> int:
        text = (self.directory / "v0.toml").read_text()
        for line in text.splitlines():
            if line.startswith("listen") and "127.0.0.1:" in line:
                return int(line.split("127.0.0.1:")[1].strip().strip('"'))
        raise RuntimeError(f"{self.directory}/v0.toml has no p2p listen address")

    def rpc_url(self, index: int) -> str:
        return f"http://127.0.0.1:{self.base_port + 100 + index}/rpc"

    def configure(self, index: int, section: str, values: dict[str, Any]) -> None:
        """Set ``key = value`` lines in ``[section]`` of validator ``index``'s config file (before
        it starts), e.g. ``configure(0, "rpc", {"rate": 50})``."""
        path = self.directory / f"{self.name(index)}.toml"
        lines = path.read_text().splitlines()
        start = lines.index(f"[{section}]") + 1
        end = next((i for i in range(start, len(lines)) if lines[i].startswith("[")), len(lines))
        for key, value in values.items():
            line = f"{key} = {json.dumps(value)}"
            found = [i for i in range(start, end) if lines[i].split("=")[0].strip() == key]
            if found:
                lines[found[0]] = line
            else:
                lines.insert(start, line)
                end += 1
        path.write_text("\n".join(lines) + "\n")

    def client(self, index: int) -> Client:
        return Client(self.rpc_url(index))

    def log_path(self, index: int) -> Path:
        return self.directory / f"{self.name(index)}.log"

    def start(self, index: int, nofile: int | None = None) -> None:
        """Start node ``index`` (appending to its log file); ``nofile`` caps its open files
        (soft and hard), as a host's default limit would."""
        if index in self.procs and self.procs[index].poll() is None:
            raise RuntimeError(f"{self.name(index)} is already running")
        log = open(self.log_path(index), "ab")
        self._logs[index] = log
        env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
        self.procs[index] = subprocess.Popen(
            [sys.executable, "-m", "node.cli.warrantd", "start", "--config", str(self.directory / f"{self.name(index)}.toml"),
             "--log-level", self.log_level],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.directory, env=env,
            preexec_fn=None if nofile is None else lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile)),
        )

    def start_all(self) -> None:
        """Start every validator and observer."""
        for index in range(self.count + self.observers):
            self.start(index)

    def kill(self, index: int) -> None:
        """SIGKILL validator ``index`` (a crash: nothing is flushed or closed)."""
        self._end(index, signal.SIGKILL)

    def stop(self, index: int, timeout: float = 10.0) -> None:
        """SIGTERM validator ``index`` and wait; SIGKILL if it does not stop in time."""
        self._end(index, signal.SIGTERM, timeout)

    def _end(self, index: int, sig: int, timeout: float = 10.0) -> None:
        proc = self.procs.pop(index, None)
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGCONT)  # a test may have paused it; a paused process can't stop
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        log = self._logs.pop(index, None)
        if log is not None:
            log.close()

    def stop_all(self) -> None:
        for index in list(self.procs):
            self.stop(index)

    def running(self) -> list[int]:
        return [i for i, p in self.procs.items() if p.poll() is None]

    async def status(self, index: int) -> ChainStatus | None:
        async with self.client(index) as client:
            try:
                return await client.status()
            except RpcCallError:
                return None

    async def wait_for(self, check: Any, timeout: float, what: str, interval: float = 0.1) -> Any:
        """Poll the async ``check()`` until it returns a truthy value; raise TimeoutError naming ``what``."""
        deadline = time.monotonic() + timeout
        while True:
            value = await check()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
            for index, proc in self.procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"{self.name(index)} exited with code {proc.returncode}; see {self.log_path(index)}")
            await asyncio.sleep(interval)

    async def wait_ready(self, indices: list[int] | None = None, timeout: float = 30.0) -> None:
        """Wait until the given nodes answer and each is linked to all the others that run (an
        observer: to every validator that runs)."""
        targets = self.running() if indices is None else indices
        # With a quorum running, also wait until each takes submissions (it has heard its peers'
        # heights and is not behind them); fewer than a quorum never do.
        quorum = 2 * ((self.count - 1) // 3) + 1

        async def ready() -> bool:
            running = self.running()
            validators = sum(1 for i in running if i < self.count)
            for index in targets:
                status = await self.status(index)
                links = validators if index >= self.count else len(running) - 1
                if status is None or status["peers"] < links:
                    return False
                if validators >= quorum and not status.get("ready", True):
                    return False
            return True

        await self.wait_for(ready, timeout, f"validators {targets} to be up and linked")

    async def heights(self, indices: list[int] | None = None) -> dict[int, ChainStatus]:
        out = {}
        for index in self.running() if indices is None else indices:
            status = await self.status(index)
            if status is not None:
                out[index] = status
        return out

    async def wait_height(self, height: int, indices: list[int] | None = None, timeout: float = 30.0) -> dict[int, ChainStatus]:
        """Wait until every given validator is at ``height`` or above; returns their statuses."""
        targets = self.running() if indices is None else indices

        async def reached() -> dict[int, ChainStatus] | None:
            statuses = await self.heights(targets)
            if len(statuses) == len(targets) and all(s["height"] >= height for s in statuses.values()):
                return statuses
            return None

        return await self.wait_for(reached, timeout, f"validators {targets} to reach height {height}")  # type: ignore[no-any-return]
