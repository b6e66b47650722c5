"""Building a Node from its config: genesis, key, data directory, and the parts Node wires.

``build_node(config)`` checks everything that can be refused from the config alone (genesis, key,
the key being a validator's, peers, TLS) before it touches the data directory; a data directory
this start created is removed again if anything after it fails, so a bad start leaves no
half-initialised chain behind. Each refusal is a :class:`StartupError` saying what to fix.
"""

from __future__ import annotations

import logging
import shutil
import ssl
from collections.abc import Callable

from consensus.params import Config as ConsensusConfig
from consensus.interfaces import Validate
from consensus.persist import PersistedState
from consensus.replica import Replica
from node.app import Application, sender_registered
from node.cli import passphrase
from node.config import ConfigError, NodeConfig, parse_listen, tls_contexts
from node.errors import ChainError, CryptoError, WarrantChainError
from node.kernel import crypto
from node.kernel.genesis import Genesis, load_genesis
from node.logs import kv
from node.ledger.initial import genesis_state
from node.ledger.epochs import epoch_history
from node.ledger.payloads import check_payload
from node.reconfig import known_epochs, voter_in
from node.mempool.pool import Mempool
from node.node import MeshMaker, Node, Parts, ReplicaMaker
from node.p2p.handshake import Members
from node.p2p.mesh import Mesh, is_peer_url
from node.store.leveldb import Store

__all__ = ["StartupError", "build_node", "genesis_members"]

log = logging.getLogger("warrantd")


class StartupError(WarrantChainError):
    """The node cannot start: a missing or wrong key, genesis, data directory or config."""


def build_node(config: NodeConfig, node_type: type[Node] = Node) -> Node:
    """A Node for ``config``, not started (``await node.start()``). Raises StartupError (or the
    StoreError of a data directory that can't be opened).

    ``node_type`` lets a test run a Node subclass built the same way.
    """
    genesis = _load_genesis(config)
    key = _load_key(config)
    validators = genesis.validator_set()
    index = validators.index_of(key.address)
    if index is None and key.public_key not in genesis.observer_keys() and not _in_an_epoch(config, key):
        if not config.node.observer:  # most likely the wrong key file: say so rather than follow quietly
            raise StartupError(
                f"key {config.node.key_file} ({key.address}) is not a validator in genesis {config.node.genesis}, "
                "nor one of its observers, nor a validator of an epoch its data directory knows; "
                "set node.observer = true to run it as an observer anyway (a validator joining by governance)"
            )
        # An observer admitted later, or a validator joining by governance: the validators refuse
        # it (not-allowed) until their members include it.
        log.warning(kv("observer-not-listed", key=config.node.key_file, address=key.address,
                       hint="not in genesis: the validators refuse this node until it is admitted"))
    # Everything that can be refused from the config alone (peers, TLS) is checked before the
    # data directory is touched, and a directory this start created is removed if it fails.
    mesh = _mesh_maker(config, genesis, key)
    data_dir = config.path(config.node.data_dir)
    fresh = not data_dir.exists()
    store = _open_store(config, genesis)
    try:
        mempool = Mempool(
            chain_id=genesis.chain_id,
            max_txs=config.mempool.max_txs,
            max_bytes=config.mempool.max_bytes,
            max_ttl_ms=genesis.params.max_tx_ttl_ms,
            is_committed=store.has_tx,
            check_payload=check_payload,
            is_registered=lambda address: sender_registered(store.state, address),
            max_per_sender=config.mempool.max_per_sender,
        )
        app = Application(store, genesis, mempool)
        parts = Parts(
            config=config, genesis=genesis, key=key, index=index, store=store, mempool=mempool, app=app,
            # A validator of the epoch of the next block votes; any other key follows as an
            # observer (a joining validator until its epoch, a removed one, a rotated-away key).
            replica=_replica_maker(config, genesis, store, key, app) if votes_now(store, key) else None,
            mesh=mesh, joins=_replica_maker(config, genesis, store, key, app),
        )
        return node_type(parts)
    except BaseException:
        store.close()
        if fresh:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise


def _load_genesis(config: NodeConfig) -> Genesis:
    try:
        return load_genesis(config.path(config.node.genesis))
    except ChainError as exc:
        raise StartupError(str(exc)) from None


def _load_key(config: NodeConfig) -> crypto.SigningKey:
    try:
        return crypto.load_key(config.path(config.node.key_file), passphrase.from_env(config.node.key_passphrase_env))
    except CryptoError as exc:
        raise StartupError(str(exc)) from None


def _open_store(config: NodeConfig, genesis: Genesis) -> Store:
    data_dir = config.path(config.node.data_dir)
    fresh = not data_dir.exists()
    store = Store(data_dir)
    genesis_hash = genesis.hash()
    try:
        if store.initialized:
            store.check_chain(genesis.chain_id, genesis_hash)
        else:
            writes, root = genesis_state(genesis)
            store.init_genesis(genesis.chain_id, genesis_hash, writes, root, root)
    except WarrantChainError:
        store.close()
        if fresh:
            shutil.rmtree(data_dir, ignore_errors=True)
        raise
    return store


class _Signer:
    def __init__(self, key: crypto.SigningKey) -> None:
        self._key = key

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)




def votes_now(store: Store, key: crypto.SigningKey) -> bool:
    """Is ``key`` a validator of the epoch of the block after the store's last?"""
    return voter_in(known_epochs(store.state), store.meta.height, key.public_key) is not None


def _in_an_epoch(config: NodeConfig, key: crypto.SigningKey) -> bool:
    """Is ``key`` a validator of an epoch the existing data directory knows (admitted, or a
    rotated key, by governance)? Read without creating the directory."""
    data_dir = config.path(config.node.data_dir)
    if not data_dir.exists():
        return False
    store = Store(data_dir)
    try:
        return store.initialized and any(
            v.pubkey == key.public_key.hex() for r in epoch_history(store.state) for v in r.validators
        )
    except WarrantChainError:
        return False
    finally:
        store.close()


def _replica_maker(
    config: NodeConfig, genesis: Genesis, store: Store, key: crypto.SigningKey, app: Application
) -> ReplicaMaker:
    """The replica, restarted from the store's consensus records, once Node hands it its validator
    (at start, or when a follower's key becomes a validator's): read from the store when made, in
    the epoch of the next block as the executed state knows the epochs."""
    timing = config.consensus
    validators = genesis.validator_set()
    consensus = ConsensusConfig(
        n=len(validators),
        checkpoint_interval=genesis.params.checkpoint_interval,
        window=max(timing.window, genesis.params.checkpoint_interval),
        view_change_timeout_ticks=max(2, timing.view_change_timeout_ms // timing.tick_ms),
        status_interval_ticks=max(1, 1000 // timing.tick_ms),
        state_request_timeout_ticks=max(2, 2000 // timing.tick_ms),
    )

    def make(validate: Validate) -> Replica:
        meta = store.meta
        cert = store.certificate(meta.height) if meta.height else None
        persisted = PersistedState.from_items(dict(store.consensus_records()))
        epochs = known_epochs(store.state)
        return Replica(
            consensus, 0, _Signer(key), validators, validate, app.digest,
            genesis.chain_id.encode(), persisted=persisted, app_height=meta.height,
            app_digest=bytes.fromhex(cert.block_hash) if cert else b"",
            epochs=epochs, key=key.public_key.raw,
        )

    return make


def genesis_members(config: NodeConfig, genesis: Genesis) -> Members:
    """Who may be in the mesh at start: genesis' validators, at the URLs ``p2p.peers`` gives by
    name (a validator not listed there is not dialed, but may dial us), and genesis' observers.
    Raises StartupError for a name that is not a validator in genesis."""
    validators = genesis.validator_set()
    names = {v.name: key for v, key in zip(validators.validators, validators.keys)}
    for name in config.p2p.peers:
        if name not in names:
            raise StartupError(f"p2p.peers names {name!r}, which is not a validator in genesis")
    return Members.of({key: config.p2p.peers.get(name) for name, key in names.items()}, genesis.observer_keys())


def _mesh_maker(config: NodeConfig, genesis: Genesis, key: crypto.SigningKey) -> MeshMaker:
    """The mesh, once Node hands it where frames and link changes go; peers and TLS checked now."""
    p2p = config.p2p
    host, port = parse_listen(p2p.listen)
    members = genesis_members(config, genesis)
    for url in members.validators.values():
        if url is not None and not is_peer_url(url):
            raise StartupError(f"p2p.peers: {url!r} is not a ws:// or wss:// URL")
    ssl_server: ssl.SSLContext | None = None
    ssl_client: ssl.SSLContext | None = None
    if p2p.tls is not None:
        try:
            ssl_server, ssl_client = tls_contexts(config)
        except ConfigError as exc:
            raise StartupError(str(exc)) from None

    def make(on_message: Callable[[crypto.PublicKey, bytes], None], on_peer_change: Callable[[crypto.PublicKey, bool], None]) -> Mesh:
        return Mesh(
            key=key, members=members, chain_id=genesis.chain_id, name=config.node.name,
            genesis_hash=genesis.hash(), listen_host=host, listen_port=port,
            on_message=on_message, on_peer_change=on_peer_change, max_frame=p2p.max_frame,
            max_observer_links=p2p.max_observer_links,
            queue_limit=p2p.queue_limit, queue_bytes=2 * p2p.max_frame,
            handshake_timeout=p2p.handshake_timeout_ms / 1000, max_pending=p2p.max_pending_handshakes,
            max_pending_per_host=p2p.max_pending_per_host, ssl_server=ssl_server, ssl_client=ssl_client,
            log=logging.getLogger("warrantd.p2p"),
        )

    return make
