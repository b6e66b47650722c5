"""The mesh side of a validator joining by governance, on a real network: the node with the new
key starts as an observer nobody admits; once the admission is executed the validators dial it
(its epoch record's endpoint) and let it in, it follows the chain from their feeds, and when it
executes its own admission it relinks as a validator.

(Voting from the new epoch is the replica's side of issue 18; this test stops before the epoch
starts, while the genesis set still certifies every block.)
"""

from __future__ import annotations

import time
from pathlib import Path

from node.kernel import crypto
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet
from tests.integration.helpers import assert_same_chain, register_accounts

CHAIN_ID = "warrant-local"
JOINING = 4  # LocalNet index of o0, whose key genesis does not list at all


async def _status(net: LocalNet, index: int) -> dict | None:  # type: ignore[type-arg]
    return await net.status(index)  # type: ignore[return-value]


async def test_an_admitted_validator_is_dialed_follows_and_relinks(tmp_path: Path) -> None:
    net = LocalNet(tmp_path / "net", 4, observers=1)
    (net.directory / "o0.pem").unlink()
    key = crypto.generate_key()
    crypto.save_key(net.directory / "o0.pem", key)
    net.configure(JOINING, "node", {"observer": True})
    admin = Wallet(crypto.load_key(net.directory / "admin.pem"), CHAIN_ID)
    try:
        for index in range(4):
            net.start(index)
        await net.wait_ready(timeout=60)
        net.start(JOINING)
        await net.wait_for(lambda: _refused_somewhere(net), 30, "the validators to refuse the unknown key")
        before = await net.status(JOINING)
        assert before is not None and before["peers"] == 0 and before["height"] == 0

        endpoint = f"127.0.0.1:{net.base_port + JOINING}"  # the others dial ws:// there
        proposal = admin.propose_validator_change("add", key.address, int(time.time() * 1000) + 3_600_000,
                                                  pubkey=key.public_key.hex(), name="v4", endpoint=endpoint)
        async with net.client(0) as client:
            enacted = await client.submit(proposal)
        assert enacted["result"]["ok"], enacted
        async with net.client(0) as client:
            pending = (await client.call("validator_set"))["pending"]
        assert pending is not None and pending["first_height"] > enacted["height"] + 2

        # Now a member (of the pending epoch): it links to all four, takes their feeds, and executes
        # its own admission; then it is a validator on the mesh and relinks as one.
        more = await register_accounts(net, admin, 2, via=[1, 2])
        height = max(r["height"] for r in more)
        assert height < pending["first_height"]
        await net.wait_height(height, [0, 1, 2, 3, JOINING], timeout=30)
        assert await assert_same_chain(net, [0, 1, 2, 3, JOINING]) >= height
        await net.wait_for(lambda: _linked(net, JOINING, 4), 30, "the new validator to relink to all four")
        await net.wait_for(lambda: _all_linked_to_it(net), 30, "every validator to link the new one")
        status = await net.status(JOINING)
        assert status is not None and status["role"] == "observer"  # it follows; the replica's switch is not here
    finally:
        net.stop_all()


async def _refused_somewhere(net: LocalNet) -> bool:
    return any("not-allowed" in net.log_path(i).read_text() for i in range(4))


async def _linked(net: LocalNet, index: int, peers: int) -> bool:
    status = await net.status(index)
    return status is not None and status["peers"] >= peers


async def _all_linked_to_it(net: LocalNet) -> bool:
    for index in range(4):
        if not await _linked(net, index, 4):
            return False
    return True
