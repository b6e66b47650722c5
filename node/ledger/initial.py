"""The ledger's initial state from the genesis file (node.kernel.genesis.Genesis).

State at height 0: ``chain`` (chain id, genesis time), ``admin/<address>`` for each alliance admin
(admins sign register_account / set_role and the governance transactions), ``acct/<address>``
for each pre-registered account with its role, and epoch 0 (``epoch/0``, ``epoch-tip``: the
genesis validator set from height 1, node.ledger.epochs). Validators are not ledger accounts.
"""

from __future__ import annotations

from node.kernel.genesis import Genesis
from node.ledger import model
from node.ledger.epochs import epoch_writes, genesis_epoch
from node.ledger.model import Account, ChainConfig
from node.ledger.state import DictReader, Overlay

__all__ = ["genesis_state"]


def genesis_state(genesis: Genesis) -> tuple[dict[bytes, bytes], bytes]:
    """(state writes, state root) at height 0; pass both to ``Store.init_genesis``."""
    state = Overlay(DictReader())
    state.put(model.KEY_CHAIN, model.dump(ChainConfig(chain_id=genesis.chain_id, genesis_time_ms=genesis.genesis_time_ms)))
    for admin in genesis.admins:
        state.put(model.key_admin(admin.address), b"1")
    for key, value in epoch_writes(genesis_epoch(genesis.validators)).items():
        state.put(key, value)
    for entry in genesis.accounts:
        account = Account(address=entry.address, name=entry.name, role=entry.role, registered_height=0,
                          registered_by="genesis")
        state.put(model.key_account(entry.address), model.dump(account))
    writes, root = state.finish()
    return {key: value for key, value in writes.items() if value is not None}, root
