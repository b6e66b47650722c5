"""Body of scripts/localnet: start a local network, print where it listens, stop it on a signal."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from node.sdk.localnet import LocalNet


async def run(args: argparse.Namespace) -> int:
    net = LocalNet(Path(args.dir), args.validators, log_level=args.log_level, observers=args.observers)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        net.start_all()
        await net.wait_ready(timeout=60)
        print(f"local network of {net.count} validators and {net.observers} observers is up "
              f"(data, keys and logs in {net.directory}):")
        for index in range(net.count + net.observers):
            print(f"  {net.name(index)}  rpc {net.rpc_url(index)}  explorer {net.rpc_url(index)[:-len('/rpc')]}/  "
                  f"log {net.log_path(index)}")
        print(f"  alliance admin key: {net.directory / 'admin.pem'}")
        if args.demo:
            from scripts.demo import tell_story

            await tell_story(net)
            if args.exit_after_demo:
                return 0
        print("press Ctrl-C to stop", flush=True)
        await stop.wait()
        return 0
    finally:
        net.stop_all()
        print("all validators stopped", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="scripts/localnet", description=__doc__)
    parser.add_argument("--dir", default="localnet", help="where keys, genesis, data and logs go (reused if present)")
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--observers", type=int, default=0, help="observer nodes o0, o1, … (a new directory only)")
    parser.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    parser.add_argument("--demo", action="store_true", help="tell the warrant story against the network")
    parser.add_argument("--exit-after-demo", action="store_true")
    args = parser.parse_args()
    try:
        return asyncio.run(run(args))
    except (TimeoutError, RuntimeError) as exc:
        print(f"localnet: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
