"""RPC methods against a real cluster: what the fake-node tests in tests/rpc can't show (commits,
replays, refusals by the mempool, blocks with certificates, queries over executed state)."""

from __future__ import annotations

import hashlib

import pytest

from node.kernel import codec, crypto
from node.kernel.chain import Certificate
from node.kernel.genesis import load_genesis
from node.sdk.client import Client, RpcCallError, Wallet
from node.sdk.localnet import LocalNet

from .conftest import CHAIN_ID, REG_ID, Story


def admin_of(net: LocalNet) -> Wallet:
    return Wallet(crypto.load_key(net.directory / "admin.pem"), CHAIN_ID)


async def test_submit_with_wait_returns_the_committed_result_and_tx_get_agrees(cluster: LocalNet) -> None:
    tx = admin_of(cluster).register_account(crypto.generate_key().address, "supplier", "waiting")
    async with cluster.client(0) as client:
        committed = await client.submit(tx, wait=True)
        assert committed["status"] == "committed" and committed["id"] == tx.id_hex
        assert committed["result"] == {"code": "OK", "ok": True, "events": committed["result"]["events"]}
        found = await client.tx(tx.id_hex)
    assert (found["height"], found["index"], found["result"]) == (committed["height"], committed["index"], committed["result"])
    assert found["tx"] == codec.decode(tx.raw)


async def test_a_replayed_transaction_is_answered_with_its_first_commit(cluster: LocalNet) -> None:
    tx = admin_of(cluster).register_account(crypto.generate_key().address, "supplier", "replayed")
    async with cluster.client(1) as first, cluster.client(2) as second:
        committed = await first.submit(tx, wait=True)
        again = await second.submit(tx, wait=True)  # same id, to another node, after the commit
        assert (again["height"], again["index"], again["result"]) == (committed["height"], committed["index"], committed["result"])
        # It was not included a second time: no DUPLICATE_TX entry anywhere after it.
        status = await second.status()
        for height in range(committed["height"] + 1, status["height"] + 1):
            block = await second.block(height, full=True)
            assert codec.decode(tx.raw) not in block["txs"]
        assert (await second.tx(tx.id_hex))["height"] == committed["height"]


async def test_a_transaction_for_another_chain_is_refused(cluster: LocalNet) -> None:
    key = crypto.load_key(cluster.directory / "admin.pem")
    tx = Wallet(key, "some-other-chain").register_account(crypto.generate_key().address, "supplier", "x")
    async with cluster.client(0) as client:
        with pytest.raises(RpcCallError) as refused:
            await client.submit(tx, wait=True)
    assert refused.value.code == 1002 and refused.value.reason == "WRONG_CHAIN"


@pytest.mark.parametrize("flaw", ["signature", "foreign key"])
async def test_a_bad_signature_is_refused(cluster: LocalNet, flaw: str) -> None:
    tx = admin_of(cluster).register_account(crypto.generate_key().address, "supplier", "forged")
    envelope = codec.decode(tx.raw)
    if flaw == "signature":
        envelope["sig"] = envelope["sig"][:10] + ("0" if envelope["sig"][10] != "0" else "1") + envelope["sig"][11:]
    else:  # a valid signature by another key, which is not the sender's
        other = crypto.generate_key()
        envelope["pubkey"] = other.public_key.hex()
        envelope["sig"] = other.sign(tx.body_bytes).hex()
    async with cluster.client(3) as client:
        with pytest.raises(RpcCallError) as refused:
            await client.call("tx_submit", tx=envelope, wait=True)
        assert refused.value.code == 1002 and refused.value.reason == "BAD_SIGNATURE"
        with pytest.raises(RpcCallError) as missing:
            await client.tx(tx.id_hex)
        assert missing.value.code == 1001


async def test_get_block_by_height_and_by_hash_with_a_certificate_that_verifies(cluster: LocalNet) -> None:
    tx = admin_of(cluster).register_account(crypto.generate_key().address, "supplier", "in a block")
    async with cluster.client(1) as client:
        height = (await client.submit(tx))["height"]
        by_height = await client.block(height, full=True)
        by_hash = await client.block(block_hash=by_height["hash"], full=True)
        ids = await client.block(height)
        with pytest.raises(RpcCallError) as missing:
            await client.block(block_hash="00" * 32)
    assert by_height == by_hash and missing.value.reason == "BLOCK_NOT_FOUND"
    assert hashlib.sha256(codec.canonical(by_height["header"])).hexdigest() == by_height["hash"]
    assert codec.decode(tx.raw) in by_height["txs"]
    assert tx.id_hex in ids["txs"] and ids["tx_count"] == by_height["tx_count"] == len(ids["txs"])
    genesis = load_genesis(cluster.directory / "genesis.json")
    cert = codec.convert(by_height["certificate"], Certificate)
    cert.verify(genesis.validator_set(), CHAIN_ID, bytes.fromhex(by_height["hash"]), height)


async def test_warrant_queries_on_a_real_warrant(cluster: LocalNet, story: Story) -> None:
    async with Client(cluster.rpc_url(0)) as client:
        warrant = await client.warrant(story.warrant)
        trace = await client.trace(story.warrant)
        proof = await client.proof(story.warrant)
        with pytest.raises(RpcCallError) as missing:
            await client.warrant("ab" * 32)
        holdings = await client.holdings(story.wallets["supplier2"].address)
        document = await client.document(story.document)
        by_key = await client.document(doc_type="invoice", number="inv-9 ", issuer_reg_id=REG_ID.lower())
        credit = await client.credit(story.wallets["bank"].address, story.wallets["core"].address)
    assert missing.value.code == 1001 and missing.value.reason == "WARRANT_NOT_FOUND"
    assert (warrant["holder"], warrant["amount"], warrant["status"]) == (story.wallets["supplier2"].address, 100_000_00, "active")
    assert [h["type"] for h in warrant["history"]] == ["transfer", "accept", "financing_request", "pledge", "freeze",
                                                       "unfreeze", "pledge_release"]
    assert trace["id"] == story.issuance and trace["children"][0]["id"] == story.split_part
    assert proof["warrant"] == story.warrant and proof["genesis_hash"] == load_genesis(
        cluster.directory / "genesis.json").hash().hex()
    assert [w["id"] for w in holdings["held"]] == [story.warrant]
    assert document == by_key and document["allocated"] == 400_000_00
    assert credit["used"] == 400_000_00 and credit["available"] == 9_600_000_00


async def test_validator_and_governance_queries_on_a_real_node(cluster: LocalNet) -> None:
    """Read-only (the cluster is shared): the genesis epoch, its history, and a non-admin's
    proposal refused in its block with NOT_ADMIN (nothing is enacted on this network)."""
    genesis = load_genesis(cluster.directory / "genesis.json")
    outsider = Wallet(crypto.generate_key(), CHAIN_ID)
    async with cluster.client(0) as client:
        await client.submit(admin_of(cluster).register_account(outsider.address, "supplier", "outsider"), wait=True)
        new = crypto.generate_key()
        proposal = outsider.propose_validator_change("add", new.address, 2**62, pubkey=new.public_key.hex(), name="x")
        refused = await client.submit(proposal, wait=True)
        assert refused["result"]["code"] == "NOT_ADMIN"
        before = (await client.status())["height"]
        now = await client.validator_set()  # default: the next block's
        assert before + 1 <= now["height"] <= (await client.status())["height"] + 1
        assert now["final"] and now["pending"] is None
        assert [v["address"] for v in now["epoch"]["validators"]] == [v.address for v in genesis.validators]
        assert (now["epoch"]["epoch"], now["epoch"]["quorum"]) == (0, genesis.validator_set().quorum)
        history = await client.validator_history()
        assert [(e["epoch"], e["status"]) for e in history["epochs"]] == [(0, "active")]
        assert await client.governance_proposals() == {"required": 1, "proposals": []}
