"""Governance: alliance admins change the validator set by proposal and a quorum of approvals.

``propose_validator_change`` (an admin) opens a proposal to add a validator (key, name, mesh
endpoint), remove one, or rotate one's key; the proposer's signature is its first approval.
``approve_validator_change`` (another admin) adds one approval; an admin counts once. When the
approvals reach ``params.approvals_required`` (genesis ``governance_quorum``, default 1) the change
is enacted in that transaction: the next epoch record is written (node.ledger.epochs) and takes
effect at the boundary rule's height, and the result carries it in an ``epoch_scheduled`` event,
which is what proof bundles prove. Fewer approvals change nothing but the proposal. A proposal
not enacted by its ``expires`` (block time) is closed by block-start housekeeping.

State::

    gprop/<proposal id>                 Proposal (id = the proposing transaction's id, hex)
    gopen/<expires as 8 bytes BE><id>   index: open proposals by expiry (block-start expiry)
    gopen-count                         how many proposals are open (the cap)
"""

from __future__ import annotations

from typing import Any

import msgspec

from node import fmt
from node.errors import ChainError
from node.ledger import model, payloads
from node.ledger.codes import Code
from node.ledger.context import BlockContext, Exec
from node.ledger.epochs import (
    EpochRecord,
    MAX_VALIDATORS,
    EpochValidator,
    check_succession,
    epoch_writes,
    latest_epoch,
    next_first_height,
    record_hash,
)
from node.ledger.rules import fail, require_admin
from node.ledger.state import Overlay, StateReaderLike

__all__ = [
    "MAX_OPEN_PROPOSALS",
    "MAX_PROPOSAL_TTL_MS",
    "Proposal",
    "expire_proposals",
    "get_proposal",
    "handle_approve",
    "handle_propose",
    "list_proposals",
    "next_expiry",
]

MAX_OPEN_PROPOSALS = 32  # bounds what admins can make every validator store and scan
MAX_PROPOSAL_TTL_MS = 30 * 24 * 3600 * 1000
OPEN, ENACTED, EXPIRED = "open", "enacted", "expired"
_PROP = b"gprop/"
_OPEN = b"gopen/"


class Proposal(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    action: str  # add / remove / rotate
    address: str  # add: the new validator; remove, rotate: the current one
    pubkey: str | None  # add: its key; rotate: the new key
    name: str | None
    endpoint: str | None
    proposer: str
    proposed_height: int
    expires: int
    approvals: list[str]  # admin addresses, in the order they approved
    status: str  # open / enacted / expired
    closed_height: int | None = None
    epoch: int | None = None  # the epoch it made, once enacted


def _key(pid: str) -> bytes:
    return _PROP + pid.encode()


def _open_key(expires: int, pid: str) -> bytes:
    return _OPEN + expires.to_bytes(8, "big") + pid.encode()


def _save(state: Overlay, proposal: Proposal) -> None:
    state.put(_key(proposal.id), model.dump(proposal))


def _describe(p: Proposal | payloads.ProposeValidatorChange) -> str:
    if p.action == "add":
        return f"add validator {p.name} ({p.address})"
    if p.action == "remove":
        return f"remove validator {p.address}"
    return f"rotate validator {p.address} to key {p.pubkey}"


def _apply_change(latest: EpochRecord, p: Proposal | payloads.ProposeValidatorChange) -> list[EpochValidator]:
    """The newest set with the change applied; refused if it no longer applies to that set."""
    members = list(latest.validators)
    index = next((i for i, v in enumerate(members) if v.address == p.address), None)
    if p.action == "add":
        assert p.pubkey is not None and p.name is not None  # payloads.check_payload
        if index is not None:
            raise fail(Code.VALIDATOR_EXISTS, f"{p.address} is already validator {index} of epoch {latest.epoch}")
        if len(members) >= MAX_VALIDATORS:
            raise fail(Code.INVALID_VALIDATOR_SET, f"epoch {latest.epoch} has {len(members)} validators, the most "
                       "a set may have; remove one first")
        return [*members, EpochValidator(name=p.name, pubkey=p.pubkey, address=p.address, endpoint=p.endpoint or "")]
    if index is None:
        raise fail(Code.NOT_A_VALIDATOR, f"{p.address} is not a validator of epoch {latest.epoch} (the newest, "
                   f"{'pending' if latest.proposal else 'genesis'}); validator_set lists them")
    if p.action == "remove":
        if len(members) == 1:
            raise fail(Code.VALIDATOR_SET_TOO_SMALL, f"{p.address} is the only validator; add another first")
        return members[:index] + members[index + 1:]
    assert p.pubkey is not None
    new_address = payloads.address_of_key(p.pubkey)
    if any(v.address == new_address for v in members):
        raise fail(Code.VALIDATOR_EXISTS, f"key {p.pubkey} is already a validator's key in epoch {latest.epoch}")
    old = members[index]
    members[index] = EpochValidator(name=p.name or old.name, pubkey=p.pubkey, address=new_address,
                                    endpoint=old.endpoint if p.endpoint is None else p.endpoint)
    return members  # same index: a rotated validator keeps its place in consensus order


def handle_propose(ex: Exec, p: payloads.ProposeValidatorChange) -> None:
    require_admin(ex)
    state = ex.state
    if not ex.time < p.expires <= ex.time + MAX_PROPOSAL_TTL_MS:
        raise fail(Code.PROPOSAL_EXPIRY_INVALID, f"expires {fmt.when(p.expires, ex.time)} must be after the block "
                   f"time {fmt.when(ex.time)} and at most {MAX_PROPOSAL_TTL_MS // 86_400_000} days after it")
    _apply_change(latest_epoch(state), p)  # refuse now what could never be enacted
    if _open_count(state) >= MAX_OPEN_PROPOSALS:
        raise fail(Code.TOO_MANY_PROPOSALS, f"{MAX_OPEN_PROPOSALS} proposals are open; approve them or let them expire")
    proposal = Proposal(id=ex.tx_hex, action=p.action, address=p.address, pubkey=p.pubkey, name=p.name,
                        endpoint=p.endpoint, proposer=ex.sender, proposed_height=ex.height, expires=p.expires,
                        approvals=[ex.sender], status=OPEN)
    ex.emit("validator_change_proposed", accounts=[ex.sender], warrants=(), proposal=proposal.id, action=p.action,
            address=p.address, pubkey=p.pubkey, name=p.name, endpoint=p.endpoint, expires=p.expires,
            approvals=1, required=ex.params.approvals_required)
    state.put(_open_key(p.expires, proposal.id), b"")
    _count(state, +1)
    _maybe_enact(ex, proposal)
    _save(state, proposal)


def handle_approve(ex: Exec, p: payloads.ApproveValidatorChange) -> None:
    require_admin(ex)
    state = ex.state
    raw = state.get(_key(p.proposal))
    if raw is None:
        raise fail(Code.UNKNOWN_PROPOSAL, f"no governance proposal {p.proposal}; governance_proposals lists them")
    proposal: Proposal = model.load(raw, Proposal)
    if proposal.status != OPEN or ex.time >= proposal.expires:
        state_text = proposal.status if proposal.status != OPEN else f"expired at {fmt.when(proposal.expires, ex.time)}"
        raise fail(Code.PROPOSAL_CLOSED, f"proposal {p.proposal} ({_describe(proposal)}) is {state_text}; propose it again")
    if ex.sender in proposal.approvals:
        raise fail(Code.ALREADY_APPROVED, f"{ex.sender} has already approved proposal {p.proposal}; an admin counts once "
                   f"({len(proposal.approvals)} of {ex.params.approvals_required} so far)")
    proposal.approvals.append(ex.sender)
    ex.emit("validator_change_approved", accounts=[ex.sender], warrants=(), proposal=proposal.id,
            approvals=len(proposal.approvals), required=ex.params.approvals_required)
    _maybe_enact(ex, proposal)
    _save(state, proposal)


def _maybe_enact(ex: Exec, proposal: Proposal) -> None:
    """Enact the change if the approvals reach the quorum: write the next epoch record."""
    if len(proposal.approvals) < ex.params.approvals_required:
        return
    state = ex.state
    latest = latest_epoch(state)
    validators = _apply_change(latest, proposal)  # the set may have changed since the proposal
    record = EpochRecord(
        epoch=latest.epoch + 1,
        first_height=next_first_height(latest, ex.height, ex.params.checkpoint_interval),
        validators=validators, previous=record_hash(latest).hex(), proposal=proposal.id, approved_height=ex.height,
    )
    try:
        check_succession(latest, record, ex.params.checkpoint_interval)
    except ChainError as exc:  # e.g. a key that is not a valid curve point
        raise fail(Code.INVALID_VALIDATOR_SET, f"{_describe(proposal)} gives no valid validator set: {exc}") from None
    for key, value in epoch_writes(record).items():
        state.put(key, value)
    state.delete(_open_key(proposal.expires, proposal.id))
    _count(state, -1)
    proposal.status, proposal.closed_height, proposal.epoch = ENACTED, ex.height, record.epoch
    ex.emit("epoch_scheduled", accounts=proposal.approvals, warrants=(), proposal=proposal.id,
            epoch=msgspec.to_builtins(record), hash=record_hash(record).hex())


_COUNT = b"gopen-count"


def _open_count(state: Overlay) -> int:
    raw = state.get(_COUNT)
    return 0 if raw is None else int(raw)


def _count(state: Overlay, delta: int) -> None:
    """Keep the number of open proposals (read through the overlay, so it counts this block's too)."""
    state.put(_COUNT, b"%d" % (_open_count(state) + delta))


def expire_proposals(state: Overlay, ctx: BlockContext) -> list[dict[str, Any]]:
    """Block start: close open proposals whose ``expires`` is at or before the block time."""
    ex = Exec(state, b"", "", ctx)
    cut = len(_OPEN)
    for key, _ in state.base.scan(_OPEN):
        if int.from_bytes(key[cut:cut + 8], "big") > ctx.time_ms:
            break
        state.delete(key)
        raw = state.get(_key(key[cut + 8:].decode()))
        if raw is None:
            continue
        proposal: Proposal = model.load(raw, Proposal)
        proposal.status, proposal.closed_height = EXPIRED, ctx.height
        _save(state, proposal)
        _count(state, -1)
        ex.emit("validator_change_expired", accounts=proposal.approvals, warrants=(), proposal=proposal.id,
                approvals=len(proposal.approvals), required=ctx.params.approvals_required)
    return ex.events


def next_expiry(reader: StateReaderLike) -> int | None:
    """The earliest ``expires`` of an open proposal (for the idle chain's empty blocks)."""
    for key, _ in reader.scan(_OPEN):
        return int.from_bytes(key[len(_OPEN):len(_OPEN) + 8], "big")
    return None


# -- queries ---------------------------------------------------------------------------------

def get_proposal(reader: StateReaderLike, pid: str) -> dict[str, Any] | None:
    raw = reader.get(_key(pid))
    return None if raw is None else msgspec.to_builtins(model.load(raw, Proposal))


def list_proposals(reader: StateReaderLike, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Proposals (newest last by proposing height), optionally only those with ``status``."""
    found = [model.load(raw, Proposal) for _, raw in reader.scan(_PROP)]
    found.sort(key=lambda p: (p.proposed_height, p.id))
    chosen = [p for p in found if status is None or p.status == status]
    return [msgspec.to_builtins(p) for p in chosen[-limit:]]
