"""Client SDK (async): sign transactions locally with the user's key and talk JSON-RPC to a node.

Keys never leave the client: a :class:`Wallet` builds and signs each transaction type, a
:class:`Client` submits it and queries the chain::

    async with Client("http://127.0.0.1:26700/rpc") as client:
        wallet = Wallet(load_key("core.pem"), await client.chain_id())
        result = await client.submit(wallet.issue(to=supplier, amount=100_000_000, ...))

The HTTP transport is aiohttp's client; the node's server side of aiohttp lives in node.rpc.server.
"""

from __future__ import annotations

import contextlib
import itertools
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp

from node.errors import WarrantChainError
from node.kernel import codec, crypto
from node.kernel.chain import SignedTx, sign_tx
from node.ledger.payloads import check_payload
from node.sdk.results import Account, ChainStatus, CreditLine, Document, Holdings, TxAnswer, Warrant

__all__ = ["RpcCallError", "Client", "PreparedBatch", "Wallet"]

DEFAULT_TTL_MS = 3600 * 1000


class RpcCallError(WarrantChainError):
    """The node answered with a JSON-RPC error (``code``, ``message``, ``data``) or could not be reached."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message
        self.data = data

    @property
    def reason(self) -> str | None:
        return self.data.get("reason") if isinstance(self.data, dict) else None


class Wallet:
    """Builds and signs transactions for one key on one chain."""

    def __init__(self, key: crypto.SigningKey, chain_id: str, ttl_ms: int = DEFAULT_TTL_MS) -> None:
        self.key = key
        self.chain_id = chain_id
        self.ttl_ms = ttl_ms

    @property
    def address(self) -> str:
        return self.key.address

    def build(self, tx_type: str, payload: dict[str, Any], *, expires: int | None = None) -> SignedTx:
        """Sign a transaction of ``tx_type``; the payload is checked here first (LedgerError if wrong)."""
        payload = {k: v for k, v in payload.items() if v is not None}
        check_payload(tx_type, payload)
        body = {
            "chain_id": self.chain_id,
            "type": tx_type,
            "sender": self.key.address,
            "nonce": secrets.randbits(63),
            "expires": expires if expires is not None else int(time.time() * 1000) + self.ttl_ms,
            "payload": payload,
        }
        return sign_tx(self.key, body)

    # One method per transaction type (docs/PROTOCOL.md lists their fields).
    def register_account(self, address: str, role: str, name: str) -> SignedTx:
        return self.build("register_account", {"address": address, "role": role, "name": name})

    def set_role(self, address: str, role: str) -> SignedTx:
        return self.build("set_role", {"address": address, "role": role})

    def set_credit_line(self, core: str, limit: int, currency: str = "CNY") -> SignedTx:
        return self.build("set_credit_line", {"core": core, "limit": limit, "currency": currency})

    def anchor_document(
        self, doc_type: str, number: str, issuer_reg_id: str, file_hash: str, total: int, *, seller: str, buyer: str,
        issuer_reg_kind: str = "uscc", currency: str = "CNY",
    ) -> SignedTx:
        """Anchor a document of ``seller`` (the creditor) owed by ``buyer`` (the debtor); the signer
        must be one of them. Signed by the seller, it waits for the buyer's ``confirm_document``."""
        return self.build(
            "anchor_document",
            {"doc_type": doc_type, "number": number, "issuer_reg_id": issuer_reg_id, "issuer_reg_kind": issuer_reg_kind,
             "hash": file_hash, "total": total, "currency": currency, "seller": seller, "buyer": buyer},
        )

    def confirm_document(self, doc: str) -> SignedTx:
        """The buyer confirms the document it owes (确权)."""
        return self.build("confirm_document", {"doc": doc})

    def dispute_document(self, doc: str, reason: str) -> SignedTx:
        return self.build("dispute_document", {"doc": doc, "reason": reason})

    def undispute_document(self, doc: str, reason: str) -> SignedTx:
        return self.build("undispute_document", {"doc": doc, "reason": reason})

    def issue(
        self, to: str, amount: int, maturity: int, credit_line: str, documents: list[dict[str, Any]],
        offer_expires: int, currency: str = "CNY",
    ) -> SignedTx:
        return self.build(
            "issue",
            {"to": to, "amount": amount, "currency": currency, "maturity": maturity, "credit_line": credit_line,
             "documents": documents, "offer_expires": offer_expires},
        )

    def accept(self, warrant: str) -> SignedTx:
        return self.build("accept", {"warrant": warrant})

    def reject(self, warrant: str) -> SignedTx:
        return self.build("reject", {"warrant": warrant})

    def transfer(self, warrant: str, to: str, amount: int, offer_expires: int) -> SignedTx:
        return self.build("transfer", {"warrant": warrant, "to": to, "amount": amount, "offer_expires": offer_expires})

    def split(self, warrant: str, amounts: list[int]) -> SignedTx:
        return self.build("split", {"warrant": warrant, "amounts": amounts})

    def request_financing(
        self, warrant: str, financier: str, mode: str, discount_bps: int, advance: int, recourse: bool
    ) -> SignedTx:
        return self.build(
            "request_financing",
            {"warrant": warrant, "financier": financier, "mode": mode, "discount_bps": discount_bps,
             "advance": advance, "recourse": recourse},
        )

    def approve_financing(self, warrant: str) -> SignedTx:
        return self.build("approve_financing", {"warrant": warrant})

    def reject_financing(self, warrant: str) -> SignedTx:
        return self.build("reject_financing", {"warrant": warrant})

    def release_pledge(self, warrant: str) -> SignedTx:
        return self.build("release_pledge", {"warrant": warrant})

    def settle(self, warrant: str, amount: int | None = None) -> SignedTx:
        return self.build("settle", {"warrant": warrant, "amount": amount})

    def mark_overdue(self, warrant: str) -> SignedTx:
        return self.build("mark_overdue", {"warrant": warrant})

    def freeze(self, warrant: str, reason: str) -> SignedTx:
        return self.build("freeze", {"warrant": warrant, "reason": reason})

    def unfreeze(self, warrant: str, reason: str) -> SignedTx:
        return self.build("unfreeze", {"warrant": warrant, "reason": reason})

    def propose_validator_change(self, action: str, address: str, expires: int, *, pubkey: str | None = None,
                                 name: str | None = None, endpoint: str | None = None) -> SignedTx:
        """Alliance admins: add (``pubkey``, ``name``, optional ``endpoint``), remove, or rotate
        (the new ``pubkey``) a validator; open until block time ``expires``. Its id is the proposal's."""
        return self.build("propose_validator_change", {"action": action, "address": address, "expires": expires,
                                                       "pubkey": pubkey, "name": name, "endpoint": endpoint})

    def approve_validator_change(self, proposal: str) -> SignedTx:
        return self.build("approve_validator_change", {"proposal": proposal})


@dataclass(frozen=True, slots=True)
class PreparedBatch:
    """A JSON-RPC batch encoded ahead of time by :meth:`Client.prepare_batch`, for
    :meth:`Client.send_batch` (a load generator keeps its encoding off the clock)."""

    body: bytes
    first_id: int
    count: int


class Client:
    """A JSON-RPC connection to one node (``url`` ends in /rpc)."""

    def __init__(self, url: str, timeout: float = 30.0, source_address: str | None = None) -> None:
        """``source_address``: the local IP to connect from (a multi-homed host; tests that act
        as several clients use other loopback addresses)."""
        self.url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._source = source_address
        self._session: aiohttp.ClientSession | None = None
        self._ids = itertools.count(1)

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(local_addr=(self._source, 0)) if self._source else None
            self._session = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        return self._session

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def call(self, method: str, **params: Any) -> Any:
        """Call ``method`` with named params; returns the result or raises RpcCallError."""
        request = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
        try:
            async with self._http().post(
                self.url, data=codec.encode(request), headers={"Content-Type": "application/json"}
            ) as response:
                body = await response.read()
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise RpcCallError(-1, f"cannot reach {self.url}: {exc or type(exc).__name__}") from None
        try:
            answer: dict[str, Any] = codec.decode(body)
        except WarrantChainError:
            raise RpcCallError(-1, f"{self.url} answered HTTP {response.status} with a non-JSON body") from None
        if "error" in answer:
            error = answer["error"]
            raise RpcCallError(error.get("code", -1), error.get("message", ""), error.get("data"))
        return answer["result"]

    async def batch(self, calls: list[tuple[str, dict[str, Any]]]) -> list[Any]:
        """Send several calls in one JSON-RPC batch; each answer is its result or an RpcCallError."""
        return await self.send_batch(self.prepare_batch(calls))

    def prepare_batch(self, calls: list[tuple[str, dict[str, Any]]]) -> PreparedBatch:
        """Encode ``calls`` as one JSON-RPC batch now, to send later with :meth:`send_batch`
        (ids are taken from this client's sequence)."""
        first = next(self._ids)
        request = [
            {"jsonrpc": "2.0", "id": first + i, "method": method, "params": params}
            for i, (method, params) in enumerate(calls)
        ]
        for _ in range(len(calls) - 1):  # the batch's ids are first .. first + len - 1
            next(self._ids)
        return PreparedBatch(codec.encode(request), first, len(calls))

    async def send_batch(self, prepared: PreparedBatch) -> list[Any]:
        """Send a batch :meth:`prepare_batch` encoded; each answer is its result or an RpcCallError."""
        first = prepared.first_id
        try:
            async with self._http().post(
                self.url, data=prepared.body, headers={"Content-Type": "application/json"}
            ) as response:
                body = await response.read()
            answers: Any = codec.decode(body)
        except (aiohttp.ClientError, TimeoutError, OSError, WarrantChainError) as exc:
            raise RpcCallError(-1, f"batch to {self.url} failed: {exc or type(exc).__name__}") from None
        if not isinstance(answers, list):
            error = answers.get("error", {}) if isinstance(answers, dict) else {}
            raise RpcCallError(error.get("code", -1), error.get("message", "batch refused"), error.get("data"))
        by_id = {answer.get("id"): answer for answer in answers}
        out: list[Any] = []
        for i in range(prepared.count):
            answer = by_id.get(first + i, {"error": {"code": -1, "message": "no answer in the batch"}})
            if "error" in answer:
                error = answer["error"]
                out.append(RpcCallError(error.get("code", -1), error.get("message", ""), error.get("data")))
            else:
                out.append(answer["result"])
        return out

    @contextlib.asynccontextmanager
    async def subscribe(self, topic: str, **params: Any) -> AsyncIterator[AsyncIterator[dict[str, Any]]]:
        """Subscribe over /ws to ``blocks``, or an ``account``'s or a ``warrant``'s events.

        The subscription is live when the ``async with`` body starts, so nothing committed after
        that is missed::

            async with client.subscribe("account", address=a) as events:
                ... submit ...
                event = await anext(events)
        """
        url = self.url.rsplit("/", 1)[0] + "/ws"
        async with self._http().ws_connect(url, timeout=aiohttp.ClientWSTimeout(ws_close=5)) as ws:
            await ws.send_bytes(codec.encode(
                {"jsonrpc": "2.0", "id": 1, "method": "subscribe", "params": {"topic": topic, **params}}
            ))
            answer: dict[str, Any] = codec.decode((await ws.receive()).data)
            if "error" in answer:
                error = answer["error"]
                raise RpcCallError(error.get("code", -1), error.get("message", ""), error.get("data"))

            async def notifications() -> AsyncIterator[dict[str, Any]]:
                async for message in ws:
                    if message.type not in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                        return
                    data: dict[str, Any] = codec.decode(message.data)
                    if data.get("method") == "subscription":
                        yield data["params"]["result"]

            yield notifications()

    async def submit(self, tx: SignedTx, wait: bool = True, timeout_ms: int = 20_000) -> TxAnswer:
        """Submit a signed transaction; with ``wait`` return once it is committed, with its result."""
        return await self.call("tx_submit", tx=codec.decode(tx.raw), wait=wait, timeout_ms=timeout_ms)  # type: ignore[no-any-return]

    async def status(self) -> ChainStatus:
        return await self.call("chain_status")  # type: ignore[no-any-return]

    async def chain_id(self) -> str:
        return str((await self.status())["chain_id"])

    # Queries (docs/PROTOCOL.md, "RPC methods"); each raises RpcCallError, NOT_FOUND (1001) included.
    async def tx(self, tx_id: str) -> TxAnswer:
        return await self.call("tx_get", id=tx_id)  # type: ignore[no-any-return]

    async def block(
        self, height: int | None = None, block_hash: str | None = None, *, full: bool = False, offset: int = 0,
        limit: int | None = None,
    ) -> dict[str, Any]:
        """A block; ``txs`` holds transaction ids, or the transactions with ``full`` (a page: see
        ``tx_count`` and ``next_offset``)."""
        page: dict[str, Any] = {"full": full, "offset": offset}
        if limit is not None:
            page["limit"] = limit
        if block_hash is not None:
            return await self.call("chain_getBlock", hash=block_hash, **page)  # type: ignore[no-any-return]
        return await self.call("chain_getBlock", height=height, **page)  # type: ignore[no-any-return]

    async def validators(self) -> list[dict[str, Any]]:
        return await self.call("chain_validators")  # type: ignore[no-any-return]

    async def warrant(self, warrant_id: str) -> Warrant:
        return await self.call("warrant_get", id=warrant_id)  # type: ignore[no-any-return]

    async def trace(self, warrant_id: str) -> dict[str, Any]:
        return await self.call("warrant_trace", id=warrant_id)  # type: ignore[no-any-return]

    async def descendants(self, warrant_id: str, after: str | None = None, limit: int = 100) -> dict[str, Any]:
        """A page of the warrant's subtree (``warrant_descendants``); pass ``next`` as ``after``."""
        params: dict[str, Any] = {"id": warrant_id, "limit": limit}
        if after is not None:
            params["after"] = after
        return await self.call("warrant_descendants", **params)  # type: ignore[no-any-return]

    async def proof(self, warrant_id: str) -> dict[str, Any]:
        return await self.call("warrant_proof", id=warrant_id)  # type: ignore[no-any-return]

    async def account(self, address: str) -> Account:
        return await self.call("account_get", address=address)  # type: ignore[no-any-return]

    async def holdings(self, address: str) -> Holdings:
        return await self.call("account_holdings", address=address)  # type: ignore[no-any-return]

    async def document(self, doc_id: str | None = None, **business_key: str) -> Document:
        """By ``doc_id``, or by ``doc_type=``, ``number=``, ``issuer_reg_id=`` (and optionally
        ``issuer_reg_kind=``), in any spelling."""
        params = {"id": doc_id} if doc_id is not None else business_key
        return await self.call("document_get", **params)  # type: ignore[no-any-return]

    async def document_allocations(self, doc_id: str) -> dict[str, Any]:
        return await self.call("document_allocations", id=doc_id)  # type: ignore[no-any-return]

    async def account_documents(self, address: str, limit: int = 100, after: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"address": address, "limit": limit}
        if after is not None:
            params["after"] = after
        return await self.call("account_documents", **params)  # type: ignore[no-any-return]

    async def credit(self, financier: str, core: str) -> CreditLine:
        return await self.call("credit_get", financier=financier, core=core)  # type: ignore[no-any-return]

    async def validator_set(self, height: int | None = None) -> dict[str, Any]:
        """The epoch that certifies ``height`` (default: the next block), with ``final`` and ``pending``."""
        params = {} if height is None else {"height": height}
        return await self.call("validator_set", **params)  # type: ignore[no-any-return]

    async def validator_history(self) -> dict[str, Any]:
        return await self.call("validator_history")  # type: ignore[no-any-return]

    async def governance_proposals(self, status: str | None = None, limit: int = 100) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if status is not None:
            params["status"] = status
        return await self.call("governance_proposals", **params)  # type: ignore[no-any-return]
