"""Who may be in the mesh, from the chain: the validators of the epoch in force and of the one
scheduled next (node.ledger.epochs), and genesis' observers.

The node hands the result to ``Mesh.set_members`` at start and whenever an executed block changed
the epoch records, so that a validator admitted by governance is dialed (and may dial us) before
its epoch starts, and a removed one's link is closed once its epoch has ended. A validator's URL
is the one this node's config gives for its name (``p2p.peers``), else the endpoint its epoch
record names (governance's ``host:port``, dialed as ``ws://host:port``, or a ws:// / wss:// URL),
else none (then it dials us, or not at all).
"""

from __future__ import annotations

from collections.abc import Mapping

from node.kernel.crypto import PublicKey
from node.kernel.genesis import Genesis
from node.ledger.epochs import epoch_at, pending_epoch
from node.ledger.state import StateReaderLike
from node.p2p.handshake import Members
from node.p2p.mesh import is_peer_url

__all__ = ["members_at"]


def members_at(state: StateReaderLike, executed: int, genesis: Genesis, urls: Mapping[str, str]) -> Members:
    """The members after block ``executed``: the set that certifies ``executed + 1``, the pending
    set (if one is scheduled), and the observers."""
    records = [epoch_at(state, executed + 1)]
    pending = pending_epoch(state, executed)
    if pending is not None:
        records.append(pending)
    validators: dict[PublicKey, str | None] = {}
    for record in records:
        for v in record.validators:
            endpoint = _url(v.endpoint)
            validators[PublicKey.from_hex(v.pubkey)] = urls.get(v.name) or endpoint
    return Members.of(validators, genesis.observer_keys())


def _url(endpoint: str) -> str | None:
    """The URL to dial an epoch record's endpoint at: governance's ``host:port`` form
    (node.ledger.payloads.Endpoint) as ``ws://host:port``; a full ws:// or wss:// URL as is;
    anything else none."""
    if is_peer_url(endpoint):
        return endpoint
    url = f"ws://{endpoint}"
    return url if endpoint and "/" not in endpoint and is_peer_url(url) else None
