"""The mesh's members from the chain's epoch records: current and pending validators, observers."""

from __future__ import annotations

from node.kernel.chain import Validator
from node.kernel.crypto import generate_key
from node.kernel.genesis import Genesis
from node.ledger.epochs import EpochRecord, EpochValidator, epoch_writes, genesis_epoch, record_hash
from node.ledger.state import DictReader
from node.observer.membership import members_at
from node.p2p.handshake import PeerRole

KEYS = [generate_key() for _ in range(6)]


def _validator(i: int) -> Validator:
    return Validator(name=f"v{i}", pubkey=KEYS[i].public_key.hex(), address=KEYS[i].address)


GENESIS = Genesis(chain_id="wc-test", genesis_time_ms=0, validators=[_validator(i) for i in range(4)], admins=[],
                  observers=[Validator(name="o0", pubkey=KEYS[5].public_key.hex(), address=KEYS[5].address)])


def _state(*records: EpochRecord) -> DictReader:
    data: dict[bytes, bytes] = {}
    for record in records:
        data.update(epoch_writes(record))
    return DictReader(data)


def test_members_follow_the_epochs() -> None:
    zero = genesis_epoch(GENESIS.validators)
    urls = {"v0": "ws://127.0.0.1:1", "v1": "ws://127.0.0.1:2"}
    members = members_at(_state(zero), 5, GENESIS, urls)
    assert set(members.validators) == {k.public_key for k in KEYS[:4]}
    assert members.validators[KEYS[0].public_key] == "ws://127.0.0.1:1" and members.validators[KEYS[2].public_key] is None
    assert members.role_of(KEYS[5].public_key) is PeerRole.OBSERVER

    # v4 is added and v1 removed from height 21 (approved at 12): both sets are members until then.
    joined = [EpochValidator(name=v.name, pubkey=v.pubkey, address=v.address) for v in zero.validators if v.name != "v1"]
    joined.append(EpochValidator(name="v4", pubkey=KEYS[4].public_key.hex(), address=KEYS[4].address,
                                 endpoint="ws://127.0.0.1:5"))
    one = EpochRecord(epoch=1, first_height=21, validators=joined, previous=record_hash(zero).hex(), proposal="00" * 32,
                      approved_height=12)
    state = _state(zero, one)
    before = members_at(state, 15, GENESIS, urls)
    assert set(before.validators) == {k.public_key for k in KEYS[:5]}
    assert before.validators[KEYS[4].public_key] == "ws://127.0.0.1:5"  # the endpoint its record names
    after = members_at(state, 20, GENESIS, urls)  # block 21 is certified by epoch 1
    assert set(after.validators) == {KEYS[i].public_key for i in (0, 2, 3, 4)}
    assert after.role_of(KEYS[1].public_key) is None


def test_an_endpoint_the_mesh_cannot_dial_is_none() -> None:
    zero = genesis_epoch(GENESIS.validators)
    odd = [*zero.validators, EpochValidator(name="v4", pubkey=KEYS[4].public_key.hex(), address=KEYS[4].address,
                                            endpoint="http://not-a-mesh-url")]
    one = EpochRecord(epoch=1, first_height=21, validators=odd, previous=record_hash(zero).hex(), proposal="00" * 32,
                      approved_height=12)
    assert members_at(_state(zero, one), 15, GENESIS, {}).validators[KEYS[4].public_key] is None
