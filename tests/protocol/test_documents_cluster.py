"""On a real 4-validator network: the first finding of issue 12, tried again as the fraudster did.

Seven spellings of one invoice key, all with the same file, submitted at once to different nodes,
give one document and six refusals; the invoice then backs one financing and no second one, by
any route (a second issuance, another core enterprise, the same file under another number, a
stranger's anchoring, financing the factored warrant again). A dispute by the regulator shows in
``warrant_get``, ``warrant_trace`` and the offline-verified proof bundle."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from node.bundles import verify_bundle
from node.kernel import crypto
from node.kernel.genesis import load_genesis
from node.ledger.keys import document_id
from node.sdk.client import Wallet
from node.sdk.localnet import LocalNet

from .conftest import CHAIN_ID

REG_ID = "91310115MA1K3YJ01C"  # a valid USCC
VARIANTS = [  # (number, issuer_reg_id) as the finding anchored them
    ("INV-001", REG_ID), ("INV-001 ", REG_ID), ("inv-001", REG_ID), (" INV-001", REG_ID),
    ("INV\u2011001", REG_ID), ("INV-001\u200b", REG_ID), ("INV-001", REG_ID.lower()),
]
FILE = crypto.sha256(b"VAT invoice INV-001, 1,000 fen").hex()


async def test_seven_variants_give_one_document_and_no_second_financing(cluster: LocalNet) -> None:
    admin = Wallet(crypto.load_key(cluster.directory / "admin.pem"), CHAIN_ID)
    roles = {"core": "core", "core2": "core", "sup": "supplier", "sup2": "supplier", "bank": "financier",
             "factor": "financier", "reg": "regulator"}
    w = {name: Wallet(crypto.generate_key(), CHAIN_ID) for name in roles}
    async with cluster.client(0) as c0, cluster.client(1) as c1, cluster.client(2) as c2, cluster.client(3) as c3:
        clients = [c0, c1, c2, c3]

        async def result(tx: Any, client: Any = c0) -> dict[str, Any]:
            return (await client.submit(tx, timeout_ms=60_000))["result"]  # type: ignore[no-any-return]

        async def ok(tx: Any) -> dict[str, Any]:
            outcome = await result(tx)
            assert outcome["ok"], outcome
            return outcome

        await asyncio.gather(*(ok(admin.register_account(w[n].address, role, n)) for n, role in roles.items()))
        await asyncio.gather(ok(w["bank"].set_credit_line(w["core"].address, 10**9)),
                             ok(w["bank"].set_credit_line(w["core2"].address, 10**9)))

        # Seven spellings at once, one per node in turn: exactly one is anchored.
        anchors = [w["sup"].anchor_document("invoice", number, reg, FILE, 1_000_00, seller=w["sup"].address,
                                            buyer=w["core"].address) for number, reg in VARIANTS]
        outcomes = await asyncio.gather(*(result(tx, clients[i % 4]) for i, tx in enumerate(anchors)))
        doc = document_id("invoice", "INV-001", REG_ID, "uscc")
        assert sum(o["ok"] for o in outcomes) == 1, outcomes
        refusals = [o for o in outcomes if not o["ok"]]
        assert [o["code"] for o in refusals] == ["DOCUMENT_EXISTS"] * 6
        assert all(doc in o["message"] for o in refusals)
        for number, reg in VARIANTS:  # every spelling finds the one document
            assert (await c3.document(doc_type="invoice", number=number, issuer_reg_id=reg))["id"] == doc
        assert [d["id"] for d in (await c1.account_documents(w["sup"].address))["documents"]] == [doc]

        # Unconfirmed, it backs nothing; the core enterprise confirms it and issues against all of it.
        maturity = int(time.time() * 1000) + 30 * 86_400_000
        expires = int(time.time() * 1000) + 86_400_000

        def issue(core: str, to: str, amount: int = 1_000_00) -> Any:
            return w[core].issue(w[to].address, amount, maturity, w["bank"].address, [{"doc": doc, "amount": amount}], expires)

        assert (await result(issue("core", "sup")))["code"] == "DOCUMENT_UNCONFIRMED"
        await ok(w["core"].confirm_document(doc))
        warrant = (await ok(issue("core", "sup")))["events"][0]["warrant"]
        await ok(w["sup"].accept(warrant))
        await ok(w["sup"].request_financing(warrant, w["bank"].address, "transfer", 300, 970_00, False))
        await ok(w["bank"].approve_financing(warrant))

        # No second financing, by any route.
        second = await asyncio.gather(
            result(issue("core", "sup", 1)),  # the same invoice again
            result(issue("core2", "sup2", 1), c1),  # another core enterprise, another supplier
            result(w["sup"].anchor_document("invoice", "INV-002", REG_ID, FILE, 1_000_00, seller=w["sup"].address,
                                            buyer=w["core"].address), c2),  # the same file, another number
            result(w["reg"].anchor_document("invoice", "INV-003", REG_ID, crypto.sha256(b"x").hex(), 1,
                                            seller=w["sup"].address, buyer=w["core"].address), c3),  # a stranger
            result(w["sup"].request_financing(warrant, w["factor"].address, "transfer", 300, 970_00, False), c1),
        )
        assert [o["code"] for o in second] == ["DOCUMENT_OVER_ALLOCATED", "DOCUMENT_PARTY_MISMATCH",
                                               "DOCUMENT_HASH_EXISTS", "NOT_DOCUMENT_PARTY", "NOT_HOLDER"]
        allocations = await c2.document_allocations(doc)
        assert [(a["warrant"], a["amount"]) for a in allocations["allocations"]] == [(warrant, 1_000_00)]
        assert allocations["free"] == 0

        # The regulator disputes the invoice: the warrant shows it everywhere, the proof included.
        await ok(w["reg"].dispute_document(doc, "tax bureau: invoice reported void"))
        shown = (await c3.warrant(warrant))["document_disputes"]
        assert [(d["document"], d["reason"]) for d in shown] == [(doc, "tax bureau: invoice reported void")]
        assert (await c1.trace(warrant))["document_disputes"] == shown
        await ok(admin.register_account(crypto.generate_key().address, "supplier", "next block"))  # certifies results
        report = verify_bundle(await c2.proof(warrant), load_genesis(cluster.directory / "genesis.json"))
    assert report.ok, report.reason
    assert report.document_disputes == {doc: "tax bureau: invoice reported void"}
    assert [t.type for t in report.transactions][:2] == ["anchor_document", "confirm_document"]
