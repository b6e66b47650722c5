"""PBFT consensus as a pure state machine (sans-I/O). See docs/CONSENSUS.md.

The daemon needs::

    from consensus import Replica, Config, PersistedState, decode_message, encode_message
    from consensus import Send, Broadcast, Persist, Deliver, ServeState, Forward, StateEntry
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
from consensus.config import Config
from consensus.interfaces import Signer, Verifier
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
from consensus.replica import Replica, ReplicaStatus

__all__ = [
    "Action",
    "Broadcast",
    "Certificate",
    "Config",
    "ConsensusError",
    "Deliver",
    "Forward",
    "MalformedMessage",
    "Message",
    "Outcome",
    "Persist",
    "PersistedState",
    "Reason",
    "Replica",
    "ReplicaStatus",
    "Send",
    "ServeState",
    "Signer",
    "StateEntry",
    "Verdict",
    "Verifier",
    "commit_signing_bytes",
    "decode_message",
    "describe",
    "describe_action",
    "encode_message",
]
