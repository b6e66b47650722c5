"""Validator set changes by governance: the admins' quorum, expiry, and the epoch boundary."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from node.ledger.epochs import (
    EPOCH_PREFIX,
    KEY_EPOCH_TIP,
    check_succession,
    epoch_history,
    first_height_after,
    fixed_through,
    pending_epoch,
    record_hash,
    validator_history_query,
    validator_set_at,
    validator_set_query,
)
from node.ledger.governance import MAX_OPEN_PROPOSALS, get_proposal, list_proposals
from node.ledger.housekeeping import next_due
from tests.ledger.world import ADMINS, DAY, HOUR, World, governed_world, key_of

def add(w: World, name: str = "v-new", **extra: Any) -> dict[str, Any]:
    payload = {"action": "add", "address": w.addr(name), "pubkey": w.keys[name].public_key.hex(), "name": name,
               "endpoint": "10.0.0.5:26656", "expires": w.time + DAY}
    payload.update(extra)
    return payload


def addresses(w: World, height: int) -> list[str]:
    return [v.address for v in validator_set_at(w.reader, height).validators]


def genesis_addresses(w: World) -> list[str]:
    return [v.address for v in w.genesis.validators]


def test_fewer_approvals_than_the_quorum_change_nothing() -> None:
    w = governed_world(quorum=2)
    before = epoch_history(w.reader)
    events = w.ok("admin", "propose_validator_change", **add(w))
    proposal = w.last_tx
    assert [e["type"] for e in events] == ["validator_change_proposed"]
    assert events[0]["approvals"] == 1 and events[0]["required"] == 2
    assert epoch_history(w.reader) == before  # one approval of two: no epoch scheduled
    assert pending_epoch(w.reader, w.height) is None
    assert addresses(w, 10**9) == genesis_addresses(w)
    assert get_proposal(w.reader, proposal)["status"] == "open"  # type: ignore[index]

    events = w.ok("admin2", "approve_validator_change", proposal=proposal)
    assert [e["type"] for e in events] == ["validator_change_approved", "epoch_scheduled"]
    assert get_proposal(w.reader, proposal)["status"] == "enacted"  # type: ignore[index]
    assert addresses(w, 10**9) == [*genesis_addresses(w), w.addr("v-new")]


@pytest.mark.parametrize("quorum", [2, 3])
def test_below_the_quorum_nothing_but_the_proposal_changes(quorum: int) -> None:
    """Must-show 6: every approval short of the quorum (with a repeated approval and outsiders'
    approvals in between, which are refused) writes only the proposal's own records: no epoch
    record, the set of every height as before. The quorum-th distinct admin enacts it."""
    w = governed_world(quorum=quorum)
    heights = range(1, 60)
    sets_before = [addresses(w, h) for h in heights]
    own = (b"gprop/", b"gopen/", b"gopen-count")

    def writes_of_last_block() -> set[bytes]:
        return {k for k in w.last_outcome.writes if not k.startswith(own)}

    w.ok("admin", "propose_validator_change", **add(w))
    proposal = w.last_tx
    assert not any(k.startswith((EPOCH_PREFIX, KEY_EPOCH_TIP)) for k in writes_of_last_block())
    for approver in ADMINS[1:quorum - 1]:
        w.fails("NOT_ADMIN", "core", "approve_validator_change", proposal=proposal)
        w.fails("ALREADY_APPROVED", "admin", "approve_validator_change", proposal=proposal)
        events = w.ok(approver, "approve_validator_change", proposal=proposal)
        assert "epoch_scheduled" not in [e["type"] for e in events]
        assert not any(k.startswith((EPOCH_PREFIX, KEY_EPOCH_TIP)) for k in writes_of_last_block())
    for outsider in ("core", "v0", "stranger"):  # outsiders' approvals never make up the quorum
        w.fails("NOT_ADMIN", outsider, "approve_validator_change", proposal=proposal)
    assert len(get_proposal(w.reader, proposal)["approvals"]) == quorum - 1  # type: ignore[index]
    assert len(epoch_history(w.reader)) == 1 and pending_epoch(w.reader, w.height) is None
    assert [addresses(w, h) for h in heights] == sets_before
    events = w.ok(ADMINS[quorum - 1], "approve_validator_change", proposal=proposal)
    assert events[-1]["type"] == "epoch_scheduled"
    assert addresses(w, 10**9) == [*genesis_addresses(w), w.addr("v-new")]


def test_a_non_admins_proposal_or_approval_is_refused() -> None:
    w = governed_world(quorum=2)
    for outsider in ("core", "reg", "v0", "stranger"):  # a member, the regulator, a validator's own key, nobody
        w.fails("NOT_ADMIN", outsider, "propose_validator_change", **add(w))
    w.ok("admin", "propose_validator_change", **add(w))
    proposal = w.last_tx
    for outsider in ("core", "v0", "v-new"):
        w.fails("NOT_ADMIN", outsider, "approve_validator_change", proposal=proposal)
    assert get_proposal(w.reader, proposal)["approvals"] == [w.addr("admin")]  # type: ignore[index]
    assert len(epoch_history(w.reader)) == 1


def test_an_admin_approves_once() -> None:
    w = governed_world(quorum=3)
    w.ok("admin", "propose_validator_change", **add(w))
    proposal = w.last_tx
    message = w.fails("ALREADY_APPROVED", "admin", "approve_validator_change", proposal=proposal)  # the proposer
    assert "counts once" in message
    w.ok("admin2", "approve_validator_change", proposal=proposal)
    w.fails("ALREADY_APPROVED", "admin2", "approve_validator_change", proposal=proposal)
    assert get_proposal(w.reader, proposal)["approvals"] == [w.addr("admin"), w.addr("admin2")]  # type: ignore[index]
    assert len(epoch_history(w.reader)) == 1  # 2 of 3 distinct admins: still nothing
    w.ok("admin3", "approve_validator_change", proposal=proposal)
    assert len(epoch_history(w.reader)) == 2
    w.fails("PROPOSAL_CLOSED", "admin3", "approve_validator_change", proposal=proposal)


def test_a_proposal_expires_and_then_changes_nothing() -> None:
    w = governed_world(quorum=2)
    w.ok("admin", "propose_validator_change", **add(w, expires=w.time + HOUR))
    proposal = w.last_tx
    assert next_due(w.reader) == w.time + HOUR  # an idle chain makes the block that closes it
    w.advance(HOUR)
    w.block([])
    assert [e["type"] for e in w.last_outcome.housekeeping] == ["validator_change_expired"]
    assert get_proposal(w.reader, proposal)["status"] == "expired"  # type: ignore[index]
    message = w.fails("PROPOSAL_CLOSED", "admin2", "approve_validator_change", proposal=proposal)
    assert "expired" in message
    assert len(epoch_history(w.reader)) == 1
    w.fails("UNKNOWN_PROPOSAL", "admin2", "approve_validator_change", proposal="ab" * 32)
    for late in (w.time, w.time + 31 * DAY):  # not after the block time / too far ahead
        w.fails("PROPOSAL_EXPIRY_INVALID", "admin", "propose_validator_change", **add(w, expires=late))


def test_default_genesis_has_one_admin_and_quorum_one() -> None:
    w = World()  # today's single-admin genesis, no governance_quorum
    assert w.genesis.params.approvals_required == 1
    events = w.ok("admin", "propose_validator_change", **add(w, name="stranger"))
    assert [e["type"] for e in events] == ["validator_change_proposed", "epoch_scheduled"]
    record = events[1]["epoch"]
    assert record["epoch"] == 1 and record["approved_height"] == w.height == 1
    assert record["first_height"] == 11  # checkpoint 10 is the first above height 1
    assert [v["name"] for v in record["validators"]] == ["v0", "stranger"]


@pytest.mark.parametrize(("approval", "interval", "first"), [(1, 10, 11), (9, 10, 11), (10, 10, 21), (11, 10, 21),
                                                            (5, 1, 7), (3, 4, 5), (4, 4, 9)])
def test_the_boundary_is_the_block_after_the_first_checkpoint_above_the_approval(
        approval: int, interval: int, first: int) -> None:
    assert first_height_after(approval, interval) == first
    assert first > approval + 1  # the approval's results header is certified by the old set
    assert (first - 1) % interval == 0


def test_the_epoch_takes_effect_at_the_boundary_and_chains_to_its_predecessor() -> None:
    w = governed_world(quorum=2, interval=4)
    w.ok("admin", "propose_validator_change", **add(w))
    w.ok("admin2", "approve_validator_change", proposal=w.last_tx)  # height 2: boundary 5
    genesis, first = epoch_history(w.reader)
    assert (first.epoch, first.first_height, first.approved_height) == (1, 5, 2)
    assert first.previous == record_hash(genesis).hex()
    check_succession(genesis, first, 4)
    assert pending_epoch(w.reader, w.height) == first
    assert addresses(w, 4) == genesis_addresses(w)  # the old set certifies up to the checkpoint
    assert addresses(w, 5) == [*genesis_addresses(w), w.addr("v-new")]
    assert validator_set_at(w.reader, 5).f == 1 and validator_set_at(w.reader, 5).quorum == 4  # of 5

    # A second change approved while the first is pending gets the next boundary, its own epoch.
    w.ok("admin", "propose_validator_change", action="remove", address=w.addr("v0"), expires=w.time + DAY)
    w.ok("admin3", "approve_validator_change", proposal=w.last_tx)  # height 4
    second = epoch_history(w.reader)[2]
    assert (second.epoch, second.first_height, second.approved_height) == (2, 9, 4)
    check_succession(first, second, 4)
    assert addresses(w, 8) == [*genesis_addresses(w), w.addr("v-new")]
    assert addresses(w, 9) == [*genesis_addresses(w)[1:], w.addr("v-new")]
    for _ in range(6):
        w.block([])
    assert pending_epoch(w.reader, w.height) is None


def test_rotation_keeps_the_validators_place() -> None:
    w = governed_world(quorum=1)
    new_key = w.keys["v-rotated"].public_key.hex()
    w.ok("admin", "propose_validator_change", action="rotate", address=w.addr("v2"), pubkey=new_key,
         expires=w.time + DAY)
    after = validator_set_at(w.reader, 10**9).validators
    assert [v.address for v in after] == [w.addr("v0"), w.addr("v1"), w.addr("v-rotated"), w.addr("v3")]
    assert after[2].name == "v2"


def test_changes_that_can_not_apply_are_refused() -> None:
    w = governed_world(quorum=2, validators=1)
    w.fails("VALIDATOR_EXISTS", "admin", "propose_validator_change", **add(w, name="v0"))
    w.fails("NOT_A_VALIDATOR", "admin", "propose_validator_change", action="remove", address=w.addr("v-new"),
            expires=w.time + DAY)
    w.fails("VALIDATOR_SET_TOO_SMALL", "admin", "propose_validator_change", action="remove", address=w.addr("v0"),
            expires=w.time + DAY)
    w.fails("VALIDATOR_KEY_MISMATCH", "admin", "propose_validator_change", **add(w, address=w.addr("stranger")))
    w.fails("INVALID_PAYLOAD", "admin", "propose_validator_change", action="remove", address=w.addr("v0"),
            pubkey=w.keys["v-new"].public_key.hex(), expires=w.time + DAY)
    w.fails("INVALID_PAYLOAD", "admin", "propose_validator_change", **add(w, endpoint="10.0.0.5"))
    w.fails("VALIDATOR_EXISTS", "admin", "propose_validator_change", action="rotate", address=w.addr("v0"),
            pubkey=w.keys["v0"].public_key.hex(), expires=w.time + DAY)


def test_a_change_is_checked_again_when_the_quorum_is_reached() -> None:
    w = governed_world(quorum=2, validators=4)
    w.ok("admin", "propose_validator_change", action="remove", address=w.addr("v3"), expires=w.time + DAY)
    remove = w.last_tx
    w.ok("admin", "propose_validator_change", action="rotate", address=w.addr("v3"),
         pubkey=w.keys["v-rotated"].public_key.hex(), expires=w.time + DAY)
    w.ok("admin2", "approve_validator_change", proposal=w.last_tx)  # v3 is rotated away first
    w.fails("NOT_A_VALIDATOR", "admin2", "approve_validator_change", proposal=remove)
    assert get_proposal(w.reader, remove)["status"] == "open"  # type: ignore[index]


def test_open_proposals_are_capped() -> None:
    w = governed_world(quorum=3)
    txs = [w.tx("admin", "propose_validator_change", add(w, expires=w.time + DAY + i))
           for i in range(MAX_OPEN_PROPOSALS + 1)]
    results = w.block(txs)
    assert [r["code"] for r in results] == ["OK"] * MAX_OPEN_PROPOSALS + ["TOO_MANY_PROPOSALS"]
    assert len(list_proposals(w.reader, status="open")) == MAX_OPEN_PROPOSALS
    w.advance(DAY)
    w.block([])  # the first expires: room for one more
    w.ok("admin", "propose_validator_change", **add(w))


def test_validator_queries_show_the_set_at_a_height_and_the_history() -> None:
    w = governed_world(quorum=1, interval=4)
    w.ok("admin", "propose_validator_change", **add(w))  # height 1: epoch 1 from height 5
    now = validator_set_query(w.reader, w.height, w.height, 4)
    assert now["epoch"]["epoch"] == 0 and now["epoch"]["n"] == 4 and now["epoch"]["quorum"] == 3
    assert now["pending"]["epoch"] == 1 and now["pending"]["first_height"] == 5
    assert now["final"] and validator_set_query(w.reader, 8, w.height, 4)["final"]
    # A change approved in the next block could start at 9 (after epoch 1's boundary): not final.
    assert not validator_set_query(w.reader, 9, w.height, 4)["final"]
    assert fixed_through(w.reader, w.height, 4) == 8
    later = validator_set_query(w.reader, 5, w.height, 4)["epoch"]
    assert (later["epoch"], later["n"], later["f"], later["quorum"]) == (1, 5, 1, 4)
    assert later["previous"] == now["epoch"]["hash"]
    assert [e["status"] for e in validator_history_query(w.reader, w.height)["epochs"]] == ["active", "pending"]
    assert [e["status"] for e in validator_history_query(w.reader, 4)["epochs"]] == ["past", "active"]
    assert [p["status"] for p in list_proposals(w.reader)] == ["enacted"]
    assert list_proposals(w.reader, status="open") == []


@settings(max_examples=40, deadline=None)
@given(steps=st.lists(st.tuples(st.sampled_from(["add", "remove", "rotate", "approve", "approve", "approve", "idle"]),
                                st.integers(0, 7), st.sampled_from(ADMINS)), min_size=1, max_size=30),
       interval=st.integers(1, 5))
def test_any_sequence_of_governance_keeps_the_epoch_chain_well_formed(
        steps: list[tuple[str, int, str]], interval: int) -> None:
    """Whatever admins propose, approve or let lapse: epochs are consecutive, hash-chained, start
    right after a checkpoint and after the block that enacted them plus one, never share a
    boundary, and the set at every height is valid."""
    w = governed_world(quorum=2, validators=4, interval=interval)
    spare = [key_of(f"spare{i}") for i in range(8)]
    proposals: list[str] = []
    for action, pick, admin in steps:
        current = validator_set_at(w.reader, 10**9).validators
        if action == "idle":
            w.advance(HOUR)
            w.block([])
            continue
        if action == "approve":
            if proposals:
                w.do(admin, "approve_validator_change", proposal=proposals[pick % len(proposals)])
            continue
        payload: dict[str, Any] = {"action": action, "expires": w.time + 2 * HOUR}
        if action == "add":
            key = spare[pick]
            payload.update(address=key.address, pubkey=key.public_key.hex(), name=f"s{pick}")
        else:
            payload["address"] = current[pick % len(current)].address
            if action == "rotate":
                payload["pubkey"] = spare[pick].public_key.hex()
        if w.do(admin, "propose_validator_change", **payload)["ok"]:
            proposals.append(w.last_tx)
    records = epoch_history(w.reader)
    event(f"{min(len(records) - 1, 3)}+ changes enacted" if len(records) > 3 else f"{len(records) - 1} changes enacted")
    assert records[0].epoch == 0
    for previous, record in zip(records, records[1:]):
        check_succession(previous, record, interval)
        assert (record.first_height - 1) % interval == 0 and record.first_height >= record.approved_height + 2
        assert record.first_height > previous.first_height
    for height in range(1, w.height + 3 * interval + 2):
        assert len(validator_set_at(w.reader, height)) >= 1
