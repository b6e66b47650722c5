"""Membership at run time: observers link to validators within a cap, and set_members dials new
validators and closes the links of keys that left."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from node.p2p.handshake import PeerRole, Refusal
from tests.p2p.conftest import Cluster, Node, authenticate, closed_code, eventually, make_node, raw_peer, running_mesh, url


@contextlib.asynccontextmanager
async def observer(cluster: Cluster, which: int, nodes: dict[int, Node], **options: object) -> AsyncIterator[Node]:
    """Observer ``which`` (its index is -1 - which), dialing every validator in ``nodes``."""
    node = make_node(cluster, -1 - which, {i: url(n) for i, n in nodes.items()}, **options)  # type: ignore[arg-type]
    try:
        await node.mesh.start()
        yield node
    finally:
        await node.mesh.stop()


async def test_an_observer_links_to_every_validator_and_gets_no_broadcasts(cluster5: Cluster) -> None:
    async with running_mesh(cluster5, range(4)) as nodes, observer(cluster5, 0, nodes) as obs:
        assert obs.mesh.own_role is PeerRole.OBSERVER
        await eventually(lambda: obs.linked() == {0, 1, 2, 3}, "the observer's links")
        assert all(n.mesh.role(obs.mesh.key) is PeerRole.OBSERVER for n in nodes.values())
        assert nodes[0].mesh.connected(PeerRole.VALIDATOR) == {cluster5.key(i) for i in (1, 2, 3)}
        assert nodes[0].mesh.broadcast(b"votes") == 3  # validators only
        assert nodes[0].send(-1, b"a block for you") and obs.send(0, b"a tx for you")
        await eventually(lambda: (0, b"a block for you") in obs.inbox and (-1, b"a tx for you") in nodes[0].inbox,
                         "both directions")
        assert (0, b"votes") not in obs.inbox


async def test_observer_links_are_capped(cluster5: Cluster) -> None:
    async with running_mesh(cluster5, range(1, 3), max_observer_links=1) as nodes:
        async with observer(cluster5, 0, nodes) as first:
            await eventually(lambda: first.linked() == {1, 2}, "the first observer's links")
            async with raw_peer(nodes[2]) as ws:
                await authenticate(ws, cluster5, -2, expect=2)  # the second observer proves its key ...
                assert await closed_code(ws) == 1013 and ws.close_reason == Refusal.OBSERVER_LIMIT.value  # ... and is refused
            assert nodes[2].mesh.stats["refused.observer-limit"] == 1
            # A reconnecting observer replaces its own link; it is not refused by its old one.
            async with raw_peer(nodes[2]) as ws:
                await authenticate(ws, cluster5, -1, expect=2)
                await eventually(lambda: nodes[2].mesh.stats["handshakes_ok"] >= 3, "the observer's new link")
                assert ws.close_code is None
            assert nodes[2].mesh.stats["refused.observer-limit"] == 1


async def test_set_members_closes_removed_keys_and_dials_new_ones(cluster5: Cluster) -> None:
    async with running_mesh(cluster5, range(4)) as nodes, observer(cluster5, 0, nodes) as obs:
        await eventually(lambda: obs.linked() == {0, 1, 2, 3}, "the observer's links")
        urls = {i: url(n) for i, n in nodes.items()}
        # Validator 1 leaves and the observer is no longer admitted: everyone drops them.
        without = cluster5.members(urls, validators=(0, 2, 3))
        without = type(without).of(without.validators)  # and no observers
        for i in (0, 2, 3):
            nodes[i].mesh.set_members(without)
        await eventually(lambda: all(n.linked() == {0, 2, 3} - {i} for i, n in nodes.items() if i != 1), "1 and the observer gone")
        assert nodes[0].mesh.stats["removed"] == 2
        # The removed validator redials validators 2 and 3 (it still counts them as members): refused.
        await eventually(lambda: nodes[2].mesh.stats["refused.not-allowed"] >= 1, "validator 1 refused on redial")
        assert 1 not in nodes[2].linked()

        # A new validator (4) joins: the validators it sorts after dial it, so it needs no URLs.
        joining = make_node(cluster5, 4, {}, members=cluster5.members({}, validators=(0, 2, 3, 4)))
        try:
            await joining.mesh.start()
            with_four = cluster5.members({**urls, 4: url(joining)}, validators=(0, 2, 3, 4))
            for i in (0, 2, 3):
                nodes[i].mesh.set_members(with_four)
            await eventually(lambda: joining.linked() == {0, 2, 3} and all(4 in nodes[i].linked() for i in (0, 2, 3)),
                             "validators 0, 2, 3 dialing 4")
            assert all(n.mesh.stats["dial_failures"] == 0 for n in nodes.values() if n is not nodes[1])
        finally:
            await joining.mesh.stop()


async def test_a_new_url_for_a_validator_is_dialed_there(cluster5: Cluster) -> None:
    async with running_mesh(cluster5, (1,)) as nodes:
        dialer = make_node(cluster5, 0, {1: "ws://127.0.0.1:1"})  # a wrong address first
        try:
            await dialer.mesh.start()
            await eventually(lambda: dialer.mesh.stats["dial_failures"] >= 1, "a failed dial")
            dialer.mesh.set_members(cluster5.members({1: url(nodes[1])}))
            await eventually(lambda: dialer.linked() == {1}, "the link at the new address")
        finally:
            await dialer.mesh.stop()
