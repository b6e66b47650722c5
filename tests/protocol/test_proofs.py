"""Proof bundles from a running cluster: they verify offline from the genesis file alone, and any
single altered byte of a transaction, result, Merkle path, header or certificate is refused."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from node.bundles import verify_bundle
from node.cli.warrantd import write_localnet
from node.kernel.genesis import Genesis, load_genesis
from node.sdk.client import Client
from node.sdk.localnet import ROOT, LocalNet

from .conftest import Story

Json = dict[str, Any]


@pytest.fixture(scope="module")
def bundle(cluster: LocalNet, story: Story) -> Json:
    import asyncio

    async def fetch() -> Json:
        async with Client(cluster.rpc_url(3)) as client:
            return await client.proof(story.warrant)

    return asyncio.run(fetch())


@pytest.fixture(scope="module")
def genesis(cluster: LocalNet) -> Genesis:
    return load_genesis(cluster.directory / "genesis.json")


def warrant_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "node.cli.warrant", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60, check=False)


def test_bundle_holds_the_whole_lineage_and_verifies(bundle: Json, genesis: Genesis, story: Story) -> None:
    report = verify_bundle(bundle, genesis)
    assert report.ok, report.reason
    assert report.complete
    assert report.lineage == [story.issuance, story.split_part, story.warrant]
    assert report.amount == 100_000_00
    kinds = [tx.type for tx in sorted(report.transactions, key=lambda t: (t.height, t.index))]
    assert kinds == ["anchor_document", "confirm_document", "issue", "accept", "split", "transfer", "accept", "request_financing",
                     "approve_financing", "freeze", "unfreeze", "release_pledge"]
    # Every transaction's block header, and the next one for its result, with certificates.
    assert len(bundle["headers"]) == len({h for tx in bundle["transactions"] for h in (tx["height"], tx["height"] + 1)})
    print(f"\nproof bundle: {len(json.dumps(bundle, separators=(',', ':')))} bytes, "
          f"{len(bundle['transactions'])} txs, {len(bundle['headers'])} headers, {report.signatures} signatures")


def test_cli_verifies_the_exported_file_offline(cluster: LocalNet, story: Story, tmp_path: Path) -> None:
    out = tmp_path / "proof.json"
    exported = warrant_cli("--rpc", cluster.rpc_url(0), "proof", "export", story.warrant, "--out", str(out))
    assert exported.returncode == 0, exported.stderr
    genesis_file = str(cluster.directory / "genesis.json")
    checked = warrant_cli("proof", "verify", str(out), "--genesis", genesis_file)  # no --rpc: offline
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert checked.stdout.startswith(f"VALID: warrant {story.warrant}")
    assert "amount 100,000.00 CNY" in checked.stdout
    # One byte changed in the file: a digit of the first header's time.
    data = out.read_bytes()
    at = data.index(b'"time_ms":') + len(b'"time_ms":') + 3
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(data[:at] + bytes([ord("0") + (data[at] - ord("0") + 1) % 10]) + data[at + 1:])
    refused = warrant_cli("proof", "verify", str(tampered), "--genesis", genesis_file)
    assert refused.returncode == 1
    assert refused.stdout.startswith("INVALID: ")


def test_another_chains_genesis_refuses_the_bundle(bundle: Json, tmp_path: Path) -> None:
    write_localnet(tmp_path / "other", 4, 40000)
    report = verify_bundle(bundle, load_genesis(tmp_path / "other" / "genesis.json"))
    assert not report.ok and "genesis" in report.reason


def _substitute(byte: int) -> int:
    """A different byte of the same class, so the JSON often stays valid and the checks must work."""
    char = chr(byte)
    if char.isdigit():
        return ord(str((int(char) + 1) % 10))
    if char in "abcdef":
        return ord("0123456789abcdef"[("0123456789abcdef".index(char) + 1) % 16])
    if char.isalpha():
        return ord("a") if char == "z" else ord("A") if char == "Z" else byte + 1
    return ord(" ") if char != " " else ord("x")


def _mutations(bundle: Json) -> Iterator[tuple[str, Json | None]]:
    """(where, altered bundle or None if the altered bytes are not JSON) for every single byte."""
    def altered(value: Any) -> Iterator[tuple[int, Any]]:
        data = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        for at in range(len(data)):
            try:
                yield at, json.loads(data[:at] + bytes([_substitute(data[at])]) + data[at + 1:])
            except (ValueError, UnicodeDecodeError):
                yield at, None

    for k, entry in enumerate(bundle["transactions"]):
        for part in ("tx", "tx_proof", "result", "result_proof"):
            for at, value in altered(entry[part]):
                copy = {**bundle, "transactions": list(bundle["transactions"])}
                copy["transactions"][k] = {**entry, part: value}
                yield f"transactions[{k}].{part} byte {at}", None if value is None else copy
    for k, entry in enumerate(bundle["headers"]):
        for part in ("header", "certificate"):
            for at, value in altered(entry[part]):
                copy = {**bundle, "headers": list(bundle["headers"])}
                copy["headers"][k] = {**entry, part: value}
                yield f"headers[{k}].{part} byte {at}", None if value is None else copy
    for name in ("version", "chain_id", "genesis_hash", "warrant"):
        for at, value in altered(bundle[name]):
            yield f"{name} byte {at}", None if value is None else {**bundle, name: value}


def test_every_single_byte_change_is_refused(bundle: Json, genesis: Genesis) -> None:
    started = time.monotonic()
    checked = unparsable = 0
    reasons: set[str] = set()
    for where, altered in _mutations(bundle):
        if altered is None:
            unparsable += 1  # not even JSON: `warrant proof verify` says so
            continue
        report = verify_bundle(altered, genesis)
        assert not report.ok, f"{where}: an altered bundle verified"
        checked += 1
        reasons.add(report.reason.split(":")[0][:40])
    print(f"\n{checked} altered bundles refused, {unparsable} not JSON, in {time.monotonic() - started:.1f}s")
    assert checked > 10_000


def test_a_missing_link_or_header_is_refused(bundle: Json, genesis: Genesis, story: Story) -> None:
    split = next(i for i, e in enumerate(bundle["transactions"]) if e["tx"]["body"]["type"] == "split")
    without_split = {**bundle, "transactions": [e for i, e in enumerate(bundle["transactions"]) if i != split]}
    report = verify_bundle(without_split, genesis)
    assert not report.ok and "creates warrant" in report.reason
    without_header = {**bundle, "headers": bundle["headers"][1:]}
    assert not verify_bundle(without_header, genesis).ok
    anchor = [e for e in bundle["transactions"] if e["tx"]["body"]["type"] != "anchor_document"]
    report = verify_bundle({**bundle, "transactions": anchor}, genesis)
    assert not report.ok and "document" in report.reason


def test_an_uncertified_outcome_is_reported_not_trusted(bundle: Json, genesis: Genesis, tmp_path: Path,
                                                        cluster: LocalNet) -> None:
    last = bundle["transactions"][-1]
    pending = {**bundle, "transactions": [*bundle["transactions"][:-1],
                                          {k: v for k, v in last.items() if k not in ("result", "result_proof")}]}
    report = verify_bundle(pending, genesis)
    assert report.ok and not report.complete and report.unproven == [report.transactions[-1].id]
    path = tmp_path / "pending.json"
    path.write_text(json.dumps(pending))
    genesis_file = str(cluster.directory / "genesis.json")
    strict = warrant_cli("proof", "verify", str(path), "--genesis", genesis_file)
    assert strict.returncode == 1 and "INCOMPLETE" in strict.stdout
    assert warrant_cli("proof", "verify", str(path), "--genesis", genesis_file, "--allow-pending").returncode == 0
