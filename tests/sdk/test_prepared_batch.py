"""Client.prepare_batch: a batch encoded ahead of time is the one Client.batch would send, with
ids of the client's own sequence (so batches prepared in advance never share an id)."""

from __future__ import annotations

from node.kernel import codec
from node.sdk.client import Client


def test_prepared_batches_take_consecutive_ids_and_encode_plain_json_rpc() -> None:
    client = Client("http://127.0.0.1:1/rpc")
    first = client.prepare_batch([("tx_get", {"id": "ab" * 32}), ("chain_status", {})])
    second = client.prepare_batch([("tx_get", {"id": "cd" * 32})])
    assert (first.first_id, first.count, second.first_id, second.count) == (1, 2, 3, 1)
    assert codec.decode(first.body) == [
        {"jsonrpc": "2.0", "id": 1, "method": "tx_get", "params": {"id": "ab" * 32}},
        {"jsonrpc": "2.0", "id": 2, "method": "chain_status", "params": {}},
    ]
    assert codec.decode(second.body) == [{"jsonrpc": "2.0", "id": 3, "method": "tx_get", "params": {"id": "cd" * 32}}]


async def test_an_unreachable_node_answers_a_prepared_batch_with_one_error() -> None:
    async with Client("http://127.0.0.1:1/rpc", timeout=5) as client:
        try:
            await client.send_batch(client.prepare_batch([("chain_status", {})]))
        except Exception as exc:  # RpcCallError(-1, "batch to ... failed: ...")
            assert getattr(exc, "code", None) == -1 and "batch to http://127.0.0.1:1/rpc failed" in str(exc)
        else:
            raise AssertionError("a batch to a closed port must fail")
