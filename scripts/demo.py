"""Body of scripts/demo: the warrant story, told through the JSON-RPC of a running network.

A bank grants a core enterprise a credit line; the tier-1 supplier anchors its invoice, the core
enterprise confirms it (确权) and issues a warrant of 1,000,000.00 CNY to that supplier, which splits it and passes 400,000.00 down to
tier 2, which passes 150,000.00 to tier 3; tier 3 factors its part at the bank; a second anchoring
of the invoice (spelled differently, with another file) and a second financing of the same part
are refused; the regulator freezes and
unfreezes a warrant; at maturity the core enterprise settles and every holder is paid. Then the
lineage prints as a tree and tier 3's proof bundle is verified offline against the genesis file.

Every party signs with its own key (node.sdk.client.Wallet) and talks to "its" member's node.

Usage::

    scripts/demo                       # start 4 validators in a temporary directory, tell, stop
    scripts/demo --dir localnet        # the same, keeping keys, chain and logs in ./localnet
    scripts/demo --rpc http://127.0.0.1:26700/rpc --admin-key localnet/admin.pem --genesis localnet/genesis.json
    scripts/localnet --demo            # start a network, tell the story, keep it running
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from node import fmt
from node.bundles import verify_bundle
from node.kernel import codec, crypto
from node.kernel.genesis import Genesis, load_genesis
from node.ledger.keys import document_id, uscc_check_char
from node.sdk.client import Client, RpcCallError, Wallet
from node.sdk.localnet import LocalNet

__all__ = ["Story", "StoryError", "explorer_url", "tell_story", "tell_story_at", "yuan"]

DEFAULT_MATURITY_S = 10.0


class StoryError(Exception):
    """A step of the story did not turn out as the story says it must."""


def yuan(fen: int) -> str:
    """100_000_000 -> '1,000,000.00 CNY' (amounts on the chain are integers in fen; node.fmt)."""
    return fmt.amount(fen)


def _clock(ms: int, relative: bool = False) -> str:
    """ISO 8601 with its zone (node.fmt), with the distance from now if ``relative``."""
    return fmt.when(ms, int(time.time() * 1000) if relative else None)


@dataclass
class Party:
    name: str
    role: str
    wallet: Wallet
    client: Client

    @property
    def address(self) -> str:
        return self.wallet.address


class Story:
    def __init__(self, urls: list[str], admin_key: crypto.SigningKey, genesis: Genesis, maturity_s: float) -> None:
        self.urls = urls
        self.admin_key = admin_key
        self.genesis = genesis
        self.maturity_s = maturity_s
        self.clients: list[Client] = []
        self.names: dict[str, str] = {}
        self.step_no = 0
        # What the story made, for callers that look at it afterwards (tests/explorer).
        self.root = ""  # the issuance
        self.proof_warrant = ""  # tier 3's factored part, whose proof bundle is verified
        self.parties: dict[str, str] = {}  # address -> name

    # -- plumbing -------------------------------------------------------------------------------

    def _client(self, index: int) -> Client:
        client = Client(self.urls[index % len(self.urls)])
        self.clients.append(client)
        return client

    def _party(self, name: str, role: str, index: int, chain_id: str) -> Party:
        party = Party(name, role, Wallet(crypto.generate_key(), chain_id), self._client(index))
        self.names[party.address] = name
        return party

    def who(self, address: str | None) -> str:
        return self.names.get(address or "", address or "-")

    def step(self, title: str) -> None:
        self.step_no += 1
        print(f"\n{self.step_no:>2}. {title}", flush=True)

    def say(self, text: str) -> None:
        print(f"    {text}", flush=True)

    async def submit(self, party: Party, tx: Any, expect: str = "OK") -> dict[str, Any]:
        """Submit ``tx`` signed by ``party`` and wait for its block; the ledger's code must be ``expect``."""
        try:
            answer = await party.client.submit(tx, timeout_ms=30_000)
        except RpcCallError as exc:  # refused before ordering (the mempool's stateless checks)
            code = exc.reason or str(exc.code)
            if code == expect:
                self.say(f"refused by the node: {code} (JSON-RPC error {exc.code}): {exc.message}")
                return {"result": {"ok": False, "code": code, "message": exc.message}}
            raise StoryError(f"{party.name}'s {tx.body.type} was refused by the node: {exc}") from None
        result = answer["result"]
        if result["code"] != expect:
            raise StoryError(
                f"{party.name}'s {tx.body.type} ended {result['code']} in block {answer['height']}, "
                f"expected {expect}: {result.get('message', '')}"
            )
        if result["ok"]:
            self.say(f"committed in block {answer['height']} (tx {answer['id'][:12]}...)")
        else:
            self.say(f"refused, recorded in block {answer['height']} as failed: {result['code']}")
            self.say(f"  \"{result['message'][:160]}\"")
        return answer

    @staticmethod
    def event(answer: dict[str, Any], kind: str) -> dict[str, Any]:
        for event in answer["result"].get("events", []):
            if event["type"] == kind:
                return event  # type: ignore[no-any-return]
        raise StoryError(f"no {kind} event in the result of tx {answer.get('id')}")

    async def block_time(self, client: Client, height: int) -> int:
        block = await client.call("chain_getBlock", height=height)
        return int(block["header"]["time_ms"])

    async def warrant(self, client: Client, wid: str) -> dict[str, Any]:
        return await client.call("warrant_get", id=wid)  # type: ignore[no-any-return]

    # -- the story ------------------------------------------------------------------------------

    async def tell(self) -> None:
        try:
            await self._tell()
        finally:
            for client in self.clients:
                await client.close()

    async def _tell(self) -> None:
        probe = self._client(0)
        status = await probe.status()
        chain_id = status["chain_id"]
        print(f"WarrantChain story on chain {chain_id!r}: {len(self.urls)} node(s), height {status['height']}, "
              f"{status['validators']} validators")

        admin = Party("Alliance admin", "admin", Wallet(self.admin_key, chain_id), probe)
        bank = self._party("Yangtze Commercial Bank", "financier", 0, chain_id)
        factor = self._party("Pearl River Factoring", "financier", 1, chain_id)
        core = self._party("Huaxin Motors (core enterprise)", "core", 1, chain_id)
        tier1 = self._party("Delta Seats Co. (tier 1)", "supplier", 2, chain_id)
        tier2 = self._party("Jiangnan Foam Ltd. (tier 2)", "supplier", 3, chain_id)
        tier3 = self._party("Minhang Textile Workshop (tier 3)", "supplier", 0, chain_id)
        regulator = self._party("Supply Chain Finance Regulator", "regulator", 2, chain_id)
        parties = [bank, factor, core, tier1, tier2, tier3, regulator]
        self.parties = {p.address: p.name for p in parties}

        self.step("The alliance admin registers the enterprises, each with its own key")
        answers = await asyncio.gather(
            *(admin.client.submit(admin.wallet.register_account(p.address, p.role, p.name[:128]), timeout_ms=30_000)
              for p in parties)
        )
        for party, answer in zip(parties, answers):
            if not answer["result"]["ok"]:
                raise StoryError(f"registering {party.name} failed: {answer['result']}")
            self.say(f"{party.role:<9} {party.name:<36} {party.address}  (block {answer['height']})")

        line = 200_000_000
        self.step(f"{bank.name} grants {core.name} a credit line of {yuan(line)}")
        await self.submit(bank, bank.wallet.set_credit_line(core.address, line))

        first17 = "91310000MA1K4XH2" + secrets.choice("0123456789ABCDEFGHJKLMNPQRTUWXY")
        reg_id = first17 + uscc_check_char(first17)  # a Unified Social Credit Code, check character included
        number = "INV-2026-" + secrets.token_hex(3).upper()
        invoice = f"VAT invoice {number} from {reg_id}: 400 seat frames, {yuan(100_000_000)}".encode()
        total = 100_000_000
        self.step(f"{tier1.name} anchors invoice {number} ({yuan(total)}) to {core.name} by its hash")
        answer = await self.submit(tier1, tier1.wallet.anchor_document(
            "invoice", number, reg_id, hashlib.sha256(invoice).hexdigest(), total, seller=tier1.address, buyer=core.address))
        doc = document_id("invoice", number, reg_id, "uscc")
        self.say(f"document id {doc[:16]}... (hash of its canonical business key: type, number, issuer registration id);"
                 f" {self.event(answer, 'document_anchored')['status']} until its debtor confirms it")
        self.step(f"{core.name} confirms the invoice it owes (确权), with its own signature")
        await self.submit(core, core.wallet.confirm_document(doc))

        status = await core.client.status()
        now = await self.block_time(core.client, status["height"])
        maturity = max(now, int(time.time() * 1000)) + int(self.maturity_s * 1000)
        self.step(f"{core.name} issues a warrant of {yuan(100_000_000)} to {tier1.name}, "
                  f"backed by the invoice, maturing at {_clock(maturity, relative=True)}")
        answer = await self.submit(core, core.wallet.issue(
            tier1.address, 100_000_000, maturity, bank.address, [{"doc": doc, "amount": 100_000_000}], maturity))
        root = self.root = self.event(answer, "warrant_issued")["warrant"]
        self.say(f"warrant {root[:16]}... is pending until the payee accepts")

        self.step(f"{tier1.name} accepts it")
        await self.submit(tier1, tier1.wallet.accept(root))

        self.step(f"{tier1.name} splits it into {yuan(40_000_000)} and {yuan(60_000_000)}, "
                  f"and transfers the first part to {tier2.name}")
        answer = await self.submit(tier1, tier1.wallet.split(root, [40_000_000, 60_000_000]))
        part400, _part600 = self.event(answer, "warrant_split")["children"]
        answer = await self.submit(tier1, tier1.wallet.transfer(part400, tier2.address, 40_000_000, maturity))
        w2 = self.event(answer, "warrant_transferred")["children"][0]
        self.step(f"{tier2.name} accepts {yuan(40_000_000)}")
        await self.submit(tier2, tier2.wallet.accept(w2))

        self.step(f"{tier2.name} passes {yuan(15_000_000)} to {tier3.name}, who accepts")
        answer = await self.submit(tier2, tier2.wallet.transfer(w2, tier3.address, 15_000_000, maturity))
        w3, w2_kept = self.event(answer, "warrant_transferred")["children"]
        self.proof_warrant = w3
        await self.submit(tier3, tier3.wallet.accept(w3))

        discount_bps = 350
        advance = 15_000_000 * (10_000 - discount_bps) // 10_000
        self.step(f"{tier3.name} factors its {yuan(15_000_000)} at {bank.name}: "
                  f"discount {discount_bps / 100:.2f}%, advance {yuan(advance)}, without recourse")
        await self.submit(tier3, tier3.wallet.request_financing(w3, bank.address, "transfer", discount_bps, advance, False))
        await self.submit(bank, bank.wallet.approve_financing(w3))
        held = await self.warrant(bank.client, w3)
        self.say(f"the warrant is now held by {self.who(held['holder'])}; the bank pays the advance off chain")

        self.step("Fraud attempts are refused")
        variant = " " + number.lower().replace("-", "\u2011") + "\u200b"  # case, a look-alike dash, a zero-width space
        self.say(f"{tier1.name} anchors invoice {variant!r} again, with a different file:")
        answer = await self.submit(tier1, tier1.wallet.anchor_document(
            "invoice", variant, reg_id.lower(), hashlib.sha256(invoice + b" (rescanned)").hexdigest(), total,
            seller=tier1.address, buyer=core.address), expect="DOCUMENT_EXISTS")
        self.say(f"error code: {answer['result']['code']}")
        self.say(f"{tier3.name} tries to finance the same part again, at {factor.name}:")
        answer = await self.submit(tier3, tier3.wallet.request_financing(w3, factor.address, "transfer", 300, advance, False),
                                   expect="NOT_HOLDER")
        self.say(f"error code: {answer['result']['code']}")

        self.step(f"{regulator.name} freezes {tier2.name}'s remaining {yuan(25_000_000)} during a dispute review")
        await self.submit(regulator, regulator.wallet.freeze(w2_kept, "dispute review: delivery note mismatch"))
        self.say(f"{tier2.name} tries to move it while frozen:")
        answer = await self.submit(tier2, tier2.wallet.transfer(w2_kept, tier3.address, 1_000_000, maturity), expect="WARRANT_FROZEN")
        self.say(f"error code: {answer['result']['code']}")
        await self.submit(regulator, regulator.wallet.unfreeze(w2_kept, "review closed: documents consistent"))
        self.say(f"unfrozen; status {(await self.warrant(tier2.client, w2_kept))['status']}")

        await self._settle(core, root, maturity)
        await self._lineage(core.client, root)
        await self._proof(tier3, w3)
        print(f"\nThe story's warrant in the explorer: {explorer_url(self.urls[0], root)}", flush=True)
        print("The story is told.", flush=True)

    async def _settle(self, core: Party, root: str, maturity: int) -> None:
        self.step(f"At maturity ({_clock(maturity)}) {core.name} settles the issuance; every holder is paid")
        # The ledger refuses settlement before the block time reaches maturity, and block times
        # come from the proposer's clock, so wait for that clock (with a deadline) and then let the
        # block that carries the settlement prove it: its header time is at or after maturity.
        deadline = time.monotonic() + self.maturity_s + 60
        wait_s = max(0.0, maturity / 1000 - time.time())
        if wait_s:
            self.say(f"waiting {wait_s:.1f}s for maturity...")
        while time.time() * 1000 < maturity:
            await asyncio.sleep(min(0.2, max(0.01, maturity / 1000 - time.time())))
        while True:
            answer = await core.client.submit(core.wallet.settle(root), timeout_ms=30_000)
            result = answer["result"]
            if result["ok"]:
                break
            if result["code"] != "NOT_MATURED" or time.monotonic() > deadline:
                raise StoryError(f"settlement failed: {result}")
            self.say("the proposer's clock is not at maturity yet; trying again")
            await asyncio.sleep(0.5)
        settled_at = await self.block_time(core.client, answer["height"])
        self.say(f"committed in block {answer['height']} at block time {_clock(settled_at)} (maturity {_clock(maturity)})")
        if settled_at < maturity:
            raise StoryError("settlement was committed before maturity")
        event = self.event(answer, "warrant_settled")
        for payment in event["payments"]:
            self.say(f"paid {yuan(payment['amount']):>20} to {self.who(payment['holder'])} "
                     f"(warrant {payment['warrant'][:12]}..., now {payment['status']})")
        self.say(f"total {yuan(event['amount'])}")

    async def _lineage(self, client: Client, root: str) -> None:
        self.step("The lineage of the issuance, as the chain records it")
        tree = await client.call("warrant_trace", id=root)
        documents = ", ".join(f"{d['ref'][:12]}... ({yuan(d['amount'])})" for d in tree.get("documents", []))
        self.say(f"backed by document(s): {documents}")

        def show(node: dict[str, Any], prefix: str, last: bool, top: bool) -> None:
            branch = "" if top else ("└─ " if last else "├─ ")
            finance = ""
            if node.get("financing"):
                f = node["financing"]
                finance = f"  financed: {f['mode']} at {self.who(f['financier'])}, advance {yuan(f['advance'])}"
            print(f"    {prefix}{branch}{node['id'][:10]} {yuan(node['amount']):>20}  {node['status']:<8} "
                  f"holder {self.who(node['holder'])}  paid {yuan(node['paid'])}{finance}")
            children = node.get("children", [])
            for i, child in enumerate(children):
                show(child, prefix + ("" if top else ("   " if last else "│  ")), i == len(children) - 1, False)

        show(tree, "", True, True)

    async def _proof(self, tier3: Party, wid: str) -> None:
        self.step(f"{tier3.name}'s warrant is verified offline from its proof bundle and the genesis file")
        try:
            bundle = await tier3.client.call("warrant_proof", id=wid)
        except RpcCallError as exc:
            raise StoryError(f"the node did not give the proof bundle of {wid}: {exc}") from None
        size = len(codec.encode(bundle))
        self.say(f"bundle of {size:,} bytes fetched from {tier3.client.url}; verifying with only the genesis file...")
        report = verify_bundle(bundle, self.genesis)
        if not report.ok:
            raise StoryError(f"the proof bundle of {wid} did NOT verify: {report.reason}")
        amount = "?" if report.amount is None else yuan(report.amount)
        self.say(f"verified: warrant {wid[:16]}... of {amount} on chain {report.chain_id!r}")
        self.say(f"  lineage of {len(report.lineage)} warrants back to the issuance, "
                 f"{len(report.transactions)} signed transactions, {report.headers} block headers, "
                 f"{report.signatures} validator signatures checked")
        if report.unproven:
            self.say(f"  {len(report.unproven)} transaction outcome(s) not yet certified by a later block "
                     "(inclusion is proven)")


def explorer_url(rpc_url: str, warrant: str) -> str:
    """The explorer's page of ``warrant`` on the node whose JSON-RPC is at ``rpc_url`` (…/rpc)."""
    base = rpc_url[: -len("/rpc")] if rpc_url.endswith("/rpc") else rpc_url.rstrip("/")
    return f"{base}/explorer/#/warrant/{warrant}"


async def tell_story_at(urls: list[str], admin_key: crypto.SigningKey, genesis: Genesis,
                        maturity_s: float = DEFAULT_MATURITY_S) -> Story:
    """Tell the story against the nodes at ``urls`` (JSON-RPC URLs ending in /rpc); the story told."""
    story = Story(urls, admin_key, genesis, maturity_s)
    await story.tell()
    return story


async def tell_story(net: LocalNet, maturity_s: float = DEFAULT_MATURITY_S) -> Story:
    """Tell the story against a running LocalNet (its admin key and genesis are in its directory)."""
    return await tell_story_at(
        [net.rpc_url(i) for i in range(net.count)],
        crypto.load_key(net.directory / "admin.pem"),
        load_genesis(net.directory / "genesis.json"),
        maturity_s,
    )


async def _run_own_network(args: argparse.Namespace) -> None:
    directory = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="warrant-demo-"))
    net = LocalNet(directory, args.validators, log_level="warning")
    try:
        print(f"starting {net.count} validators on 127.0.0.1 (keys, chain and logs in {directory})...", flush=True)
        net.start_all()
        await net.wait_ready(timeout=60)
        await tell_story(net, args.maturity_seconds)
    finally:
        net.stop_all()
        print("validators stopped", flush=True)
        if not args.dir:
            shutil.rmtree(directory, ignore_errors=True)


async def _run(args: argparse.Namespace) -> None:
    if not args.rpc:
        await _run_own_network(args)
        return
    base = Path(args.dir) if args.dir else None
    admin_path = args.admin_key or (base / "admin.pem" if base else None)
    genesis_path = args.genesis or (base / "genesis.json" if base else None)
    if admin_path is None or genesis_path is None:
        raise StoryError("with --rpc, give --admin-key and --genesis (or --dir of the network)")
    await tell_story_at(args.rpc, crypto.load_key(admin_path), load_genesis(genesis_path), args.maturity_seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", help="network directory (default: a temporary one, removed afterwards)")
    parser.add_argument("--validators", type=int, default=4)
    parser.add_argument("--rpc", action="append", metavar="URL", help="tell the story against a running network instead")
    parser.add_argument("--admin-key", type=Path, help="alliance admin key file (with --rpc)")
    parser.add_argument("--genesis", type=Path, help="genesis file, for verifying proofs offline (with --rpc)")
    parser.add_argument("--maturity-seconds", type=float, default=DEFAULT_MATURITY_S,
                        help="how far ahead of issuance the warrant matures")
    args = parser.parse_args(argv)
    try:
        asyncio.run(_run(args))
    except (StoryError, RpcCallError, TimeoutError, RuntimeError) as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
