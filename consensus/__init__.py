"""PBFT consensus as a pure state machine (sans-I/O). See docs/CONSENSUS.md.

The daemon needs::

    from consensus import Replica, Config, PersistedState, decode_message, encode_message
    from consensus import Ready, Effects, SoftState, perform        # one Ready per input, performed
    from consensus import Validation, ACCEPT, reject, later          # the proposal check's verdicts
    from consensus import Send, Broadcast, Persist, Deliver, ServeState, Forward, StateEntry
    from consensus import Epoch, signing_domain, fixed_through        # reconfiguration
"""

from __future__ import annotations

from consensus.actions import (
    Action,
    Broadcast,
    Deliver,
    Forward,
    Outcome,
    Persist,
    Reason,
    Send,
    ServeState,
    Verdict,
    describe_action,
)
from consensus.epoch import Epoch, first_seq_after, fixed_through, signing_domain
from consensus.interfaces import ACCEPT, Signer, Validation, Validity, Verifier, later, reject
from consensus.params import Config
from consensus.messages import (
    Certificate,
    ConsensusError,
    MalformedMessage,
    Message,
    StateEntry,
    commit_signing_bytes,
    decode_message,
    describe,
    encode_message,
)
from consensus.persist import PersistedState
from consensus.ready import Effects, Ready, SoftState, perform
from consensus.replica import Replica, ReplicaStatus

__all__ = [
    "ACCEPT",
    "Action",
    "Broadcast",
    "Certificate",
    "Config",
    "ConsensusError",
    "Deliver",
    "Effects",
    "Epoch",
    "Forward",
    "MalformedMessage",
    "Message",
    "Outcome",
    "Persist",
    "PersistedState",
    "Reason",
    "Ready",
    "Replica",
    "ReplicaStatus",
    "Send",
    "ServeState",
    "Signer",
    "SoftState",
    "StateEntry",
    "Validation",
    "Validity",
    "Verdict",
    "Verifier",
    "commit_signing_bytes",
    "decode_message",
    "describe",
    "describe_action",
    "encode_message",
    "first_seq_after",
    "fixed_through",
    "later",
    "perform",
    "reject",
    "signing_domain",
]
