"""The params of every RPC method as msgspec Structs (strict: no coercion), and their validation."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

from node.fmt import explain_validation
from node.kernel.chain import TxEnvelope
from node.rpc.api import DEFAULT_PAGE, DEFAULT_WAIT_MS, MAX_PAGE, MAX_WAIT_MS
from node.rpc.jsonrpc import INVALID_PARAMS, RpcError

Address = Annotated[str, msgspec.Meta(pattern="^wc[0-9a-f]{40}$", description="account address: wc + 40 hex")]
Hash = Annotated[str, msgspec.Meta(pattern="^[0-9a-f]{64}$", description="32-byte hash, lowercase hex")]
Ident = Annotated[str, msgspec.Meta(min_length=1, max_length=128, description="identifier as given by the ledger")]
Height = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Offset = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1, description="index of the first item of the page")]
Limit = Annotated[int, msgspec.Meta(ge=1, le=MAX_PAGE, description=f"items per page, at most {MAX_PAGE}")]


class Params(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    pass


class NoParams(Params):
    pass


class TxSubmitParams(Params):
    tx: TxEnvelope
    wait: bool = False
    timeout_ms: Annotated[int, msgspec.Meta(ge=1, le=MAX_WAIT_MS)] = DEFAULT_WAIT_MS


class TxGetParams(Params):
    id: Hash


class GetBlockParams(Params):
    height: Height | None = None
    hash: Hash | None = None
    full: bool = False  # whole transactions instead of their ids
    offset: Offset = 0
    limit: Limit = DEFAULT_PAGE

    def __post_init__(self) -> None:
        if (self.height is None) == (self.hash is None):
            raise ValueError("give exactly one of `height` or `hash`")


class WarrantParams(Params):
    id: Ident


class DescendantsParams(Params):
    id: Ident
    after: Ident | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 100


class AddressParams(Params):
    address: Address


class HoldingsParams(Params):
    address: Address
    offset: Offset = 0
    limit: Limit = DEFAULT_PAGE


class DocumentGetParams(Params):
    id: Hash | None = None
    doc_type: Ident | None = None
    number: Ident | None = None
    issuer_reg_id: Ident | None = None
    issuer_reg_kind: Literal["uscc", "lei", "other"] | None = None  # inferred when left out
    offset: Offset = 0  # of the allocations
    limit: Limit = DEFAULT_PAGE

    def __post_init__(self) -> None:
        key = (self.doc_type, self.number, self.issuer_reg_id)
        if self.id is None and None in key:
            raise ValueError("give `id`, or all of `doc_type`, `number` and `issuer_reg_id`")
        if self.id is not None and (key != (None, None, None) or self.issuer_reg_kind is not None):
            raise ValueError("give `id` or the business key (`doc_type`, `number`, `issuer_reg_id`), not both")


class DocumentIdParams(Params):
    id: Hash


class AccountDocumentsParams(Params):
    address: Address
    limit: Annotated[int, msgspec.Meta(ge=1, le=500)] = 100
    after: Hash | None = None


class CreditGetParams(Params):
    financier: Address
    core: Address


class ValidatorSetParams(Params):
    height: Annotated[int, msgspec.Meta(ge=1, le=2**63 - 1, description="block height (default: the next block)")] | None = None


class ProposalsParams(Params):
    status: Literal["open", "enacted", "expired"] | None = None
    limit: Annotated[int, msgspec.Meta(ge=1, le=100)] = 100


class SubscribeParams(Params):
    topic: Literal["blocks", "account", "warrant"]
    address: Address | None = None
    id: Ident | None = None

    def __post_init__(self) -> None:
        if self.topic == "account" and (self.address is None or self.id is not None):
            raise ValueError('topic "account" takes `address` only')
        if self.topic == "warrant" and (self.id is None or self.address is not None):
            raise ValueError('topic "warrant" takes `id` only')
        if self.topic == "blocks" and (self.id is not None or self.address is not None):
            raise ValueError('topic "blocks" takes no other params')


class UnsubscribeParams(Params):
    subscription: Ident




def convert_params(params: dict[str, Any] | list[Any] | None, kind: type[Params]) -> Any:
    """Validate params against ``kind``; raise RpcError(-32602) naming the offending field.

    Positional params (an array) are accepted and matched to the fields in documented order.
    """
    if params is None:
        params = {}
    elif isinstance(params, list):
        names = kind.__struct_fields__
        if len(params) > len(names):
            raise RpcError(INVALID_PARAMS, f"params: {len(params)} positional values given; at most {len(names)} ({', '.join(names)})")
        params = dict(zip(names, params))
    try:
        return msgspec.convert(params, kind, strict=True)
    except msgspec.ValidationError as exc:
        raise RpcError(INVALID_PARAMS, *_describe_validation(str(exc))) from None


def _describe_validation(text: str) -> tuple[str, dict[str, str]]:
    """'Expected `int`, got `str` - at `$.amount`' -> 'params.amount: expected a whole number, got text'."""
    field_path, message = explain_validation(text, root="params")
    return message, {"field": field_path}
