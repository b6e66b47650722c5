"""Validator-set changes on a real network under load (issue 18, must-shows 2 and 3):
docs/OPERATIONS.md "Changing the validator set" is the walkthrough these follow."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .helpers import assert_same_chain

CHAIN_ID = "warrant-local"


class Load:
    """Clients registering accounts through the given nodes until stopped; every id remembered."""

    def __init__(self, net: LocalNet, admin: Wallet, via: list[int]) -> None:
        self.net, self.admin, self.via = net, admin, via
        self.ids: list[str] = []
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        k = 0
        while not self._stop.is_set():
            key = crypto.generate_key()
            tx = self.admin.register_account(key.address, "supplier", f"load-{key.address[2:10]}")
            node = self.via[k % len(self.via)]
            k += 1
            try:
                async with self.net.client(node) as client:
                    await client.submit(tx, wait=False)
                self.ids.append(tx.id_hex)
            except Exception:  # noqa: BLE001 -- a node restarting refuses or drops the call: next one
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.02)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task


async def _propose(net: LocalNet, admin: Wallet, via: int, **change: Any) -> dict[str, Any]:
    """Propose (and, with the local net's admin quorum of one, approve) a validator change;
    returns the pending epoch it scheduled."""
    tx = admin.propose_validator_change(expires=int(time.time() * 1000) + 600_000, **change)
    async with net.client(via) as client:
        committed = await client.submit(tx, wait=True)
        assert committed["result"]["ok"], committed
        answer = await client.validator_set()
    assert answer["pending"] is not None, answer
    return answer["pending"]  # type: ignore[no-any-return]


async def _all_committed(net: LocalNet, via: int, ids: list[str], timeout: float) -> None:
    async def done() -> bool:
        async with net.client(via) as client:
            for tx_id in ids:
                if (await client.tx(tx_id))["status"] != "committed":
                    return False
        return True

    await net.wait_for(done, timeout, f"all {len(ids)} load transactions committed")


async def _signers(net: LocalNet, via: int, height: int) -> set[int]:
    async with net.client(via) as client:
        block = await client.call("chain_getBlock", height=height)
    return {int(i) for i, _ in block["certificate"]["signatures"]}


async def test_a_validator_key_rotates_under_load_without_a_view_change_storm(net: LocalNet, admin: Wallet) -> None:
    load = Load(net, admin, [0, 1, 2])
    load.start()
    old = crypto.load_key(net.directory / "v3.pem")
    new = crypto.generate_key()
    pending = await _propose(net, admin, 0, action="rotate", address=old.address, pubkey=new.public_key.hex())
    first = pending["first_height"]
    assert [v["pubkey"] for v in pending["validators"]][3] == new.public_key.hex()
    # v3 votes with its old key to the end of epoch 0, then is no validator with it.
    await net.wait_height(first + 2, [0, 1, 2], timeout=60)
    net.stop(3)
    crypto.save_key(net.directory / "v3-new.pem", new)  # the operator installs the new key
    net.configure(3, "node", {"key_file": "v3-new.pem"})
    net.start(3)
    await net.wait_height(first + 20, [0, 1, 2, 3], timeout=90)
    # The new key votes: with v2 stopped, blocks commit only with v3's commit (quorum 3 of 4).
    net.stop(2)
    top = max(s["height"] for s in (await net.heights([0, 1, 3])).values())
    await net.wait_height(top + 5, [0, 1, 3], timeout=60)
    signers = [await _signers(net, 0, h) for h in range(top + 2, top + 6)]
    assert all(s == {0, 1, 3} for s in signers), signers
    net.start(2)
    await net.wait_height(top + 8, [0, 1, 2, 3], timeout=60)
    await load.stop()
    await _all_committed(net, 0, load.ids, timeout=60)
    assert len(load.ids) > 20
    await assert_same_chain(net, [0, 1, 2, 3])
    # No view change storm: views restart at 0 in the new epoch; at most one change in it.
    assert max(s["view"] for s in (await net.heights([0, 1, 2, 3])).values()) <= 1


async def test_a_removed_validator_stops_voting_and_is_refused_by_the_mesh(net: LocalNet, admin: Wallet) -> None:
    load = Load(net, admin, [0, 1, 2])
    load.start()
    gone = crypto.load_key(net.directory / "v3.pem")
    pending = await _propose(net, admin, 1, action="remove", address=gone.address)
    first = pending["first_height"]
    assert (pending["n"], pending["quorum"]) == (3, 2)
    await net.wait_height(first + 15, [0, 1, 2], timeout=90)
    async with net.client(0) as client:
        active = await client.validator_set()
    assert active["epoch"]["epoch"] == 1 and active["epoch"]["n"] == 3
    # v3 delivered epoch 0 to its end, then voted no more; the others closed its link and refuse it.
    async with net.client(3) as client:
        stuck = (await client.status())["height"]
    assert first - 1 <= stuck < first + 15
    signers = [await _signers(net, 0, h) for h in range(first, first + 10)]
    assert all(s <= {0, 1, 2} for s in signers), signers
    await net.wait_for(lambda: _logged(net, [0, 1, 2], "closes the link", "not-allowed", "removed"),
                       30, "the others refusing v3's link")
    assert "not-a-validator" in net.log_path(3).read_text()
    await load.stop()
    await _all_committed(net, 0, load.ids, timeout=60)
    await assert_same_chain(net, [0, 1, 2])


async def _logged(net: LocalNet, nodes: list[int], *needles: str) -> bool:
    return any(n in net.log_path(i).read_text() for i in nodes for n in needles)


async def test_a_fifth_validator_joins_under_load_then_an_original_leaves(tmp_path: Any) -> None:
    """Must-show 2: a 5th validator added by governance (it follows as an observer until its
    epoch) catches up and votes: with n = 5, f = 1, any four commit (one original stopped); then an
    original is removed and refused; no transaction lost, no divergence."""
    net = LocalNet(tmp_path / "net", 4, observers=1)
    try:
        net.start_all()
        await net.wait_ready(timeout=60)
        admin = Wallet(crypto.load_key(net.directory / "admin.pem"), CHAIN_ID)
        load = Load(net, admin, [0, 1, 2])
        load.start()
        joiner = crypto.load_key(net.directory / "o0.pem")
        pending = await _propose(net, admin, 0, action="add", address=joiner.address,
                                 pubkey=joiner.public_key.hex(), name="v4",
                                 endpoint=f"127.0.0.1:{net.base_port + 4}")
        first = pending["first_height"]
        assert (pending["n"], pending["quorum"]) == (5, 4)
        await net.wait_height(first + 10, [0, 1, 2, 3, 4], timeout=90)
        async with net.client(4) as client:
            status = await client.status()
        assert status["validators"] == 5 and status.get("role", "validator") == "validator"
        # f = 1 with n = 5: with v1 stopped the four others commit, the newcomer's vote among them.
        net.stop(1)
        top = max(s["height"] for s in (await net.heights([0, 2, 3, 4])).values())
        await net.wait_height(top + 5, [0, 2, 3, 4], timeout=60)
        signers = [await _signers(net, 0, h) for h in range(top + 2, top + 6)]
        assert all(s == {0, 2, 3, 4} for s in signers), signers
        net.start(1)
        await net.wait_height(top + 8, [0, 1, 2, 3, 4], timeout=60)
        # An original leaves: v3 (epoch 2: n = 4 again, v4 becomes index 3).
        gone = crypto.load_key(net.directory / "v3.pem")
        removal = await _propose(net, admin, 0, action="remove", address=gone.address)
        await net.wait_height(removal["first_height"] + 10, [0, 1, 2, 4], timeout=90)
        signers = [await _signers(net, 0, h) for h in range(removal["first_height"], removal["first_height"] + 8)]
        assert all(s <= {0, 1, 2, 3} for s in signers), signers  # index 3 of epoch 2 is v4's key
        await net.wait_for(lambda: _logged(net, [0, 1, 2, 4], "closes the link", "not-allowed", "removed"),
                           30, "the others refusing v3's link")
        await load.stop()
        await _all_committed(net, 0, load.ids, timeout=60)
        assert len(load.ids) > 20
        await assert_same_chain(net, [0, 1, 2, 4])
    finally:
        net.stop_all()
