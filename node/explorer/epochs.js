// Epochs in the browser: which validator set certifies which height, and how a version-2 proof
// bundle proves each set from the genesis file alone. The same rules, in the same order and with
// the same words, as node/ledger/epochs.py (records, the boundary rule, look-ups) and
// node/bundle_epochs.py (establish_epochs); docs/PROTOCOL.md sections 10 and 10.1.
//
// An epoch change is proven by the governance transaction that enacted it: its result's single
// epoch_scheduled event carries the new record, and the headers that prove that result lie below
// the new record's first height, so they are certified by the set before it, never by the new
// set vouching for itself.

import {
  ProofError, U63, HEX32, ADDRESS, PUBKEY, NAME, struct, list, canonical, convert, sha256, toHex,
  decompress, addressOf, hexToBytes,
} from './canon.js';

export const MAX_VALIDATORS = 64n;
export const GOVERNANCE_TXS = new Set(['propose_validator_change', 'approve_validator_change']);
const GENESIS_PREVIOUS = '00'.repeat(32);

const EPOCH_VALIDATOR = struct({ name: NAME, pubkey: PUBKEY, address: ADDRESS, endpoint: { str: /^/, len: [0, 255] } },
  { endpoint: '' });
export const EPOCH_RECORD = struct({
  epoch: U63, first_height: U63, validators: list(EPOCH_VALIDATOR), previous: HEX32,
  proposal: { str: /^([0-9a-f]{64})?$/ }, approved_height: U63,
});
// node/ledger/payloads.py Endpoint: host:port, a DNS name, IPv4 or [IPv6].
const ENDPOINT = { str: /^([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}$/ };
export const GOVERNANCE_PAYLOADS = {
  propose_validator_change: struct({
    action: { oneOf: ['add', 'remove', 'rotate'] }, address: ADDRESS, expires: U63,
    pubkey: { optional: PUBKEY }, name: { optional: NAME }, endpoint: { optional: ENDPOINT },
  }, { pubkey: null, name: null, endpoint: null }),
  approve_validator_change: struct({ proposal: HEX32 }),
};

const NEEDED = { add: ['pubkey', 'name'], remove: [], rotate: ['pubkey'] };
const ALLOWED = { add: ['pubkey', 'name', 'endpoint'], remove: [], rotate: ['pubkey', 'name', 'endpoint'] };

/** node.ledger.payloads.check_validator_change: the fields each action needs and allows. */
export async function checkValidatorChange(p) {
  for (const name of ['pubkey', 'name', 'endpoint']) {
    const present = p[name] !== null && p[name] !== undefined;
    if (NEEDED[p.action].includes(name) && !present) throw new ProofError(`propose_validator_change: action '${p.action}' needs '${name}'`);
    if (present && !ALLOWED[p.action].includes(name)) throw new ProofError(`propose_validator_change: action '${p.action}' takes no '${name}'`);
  }
  if (p.pubkey !== null && p.pubkey !== undefined) {
    if (decompress(hexToBytes(p.pubkey)) === null) throw new ProofError(`pubkey ${p.pubkey.slice(0, 16)}…: not a P-256 point`);
    const derived = await addressOf(p.pubkey);
    if (p.action === 'add' && derived !== p.address) throw new ProofError(`pubkey ${p.pubkey.slice(0, 16)}… has address ${derived}, not ${p.address}`);
  }
}

// ---- records -------------------------------------------------------------------------------------

/** Epoch 0: the genesis validators from height 1. */
export function genesisEpoch(validators) {
  return {
    epoch: 0n, first_height: 1n, previous: GENESIS_PREVIOUS, proposal: '', approved_height: 0n,
    validators: validators.map((v) => ({ name: v.name, pubkey: v.pubkey, address: v.address, endpoint: '' })),
  };
}

/** SHA-256 of the record's canonical JSON (hex): what the next record names as ``previous``. */
export async function recordHash(record) { return toHex(await sha256(canonical(record))); }

/** The record's set as certificates use it: {validators, n, f, quorum}; ProofError if keys and addresses disagree. */
export async function validatorSetOf(record) {
  const validators = record.validators;
  const n = validators.length;
  if (n < 1) throw new ProofError('a validator set needs at least one validator');
  for (const v of validators) {
    if (decompress(hexToBytes(v.pubkey)) === null) throw new ProofError(`validator set: key ${v.pubkey.slice(0, 16)}… is not a P-256 point`);
  }
  for (const v of validators) {
    if (await addressOf(v.pubkey) !== v.address) throw new ProofError(`validator ${v.name}: address does not match its public key`);
  }
  if (new Set(validators.map((v) => v.pubkey)).size !== n) throw new ProofError('validator set lists the same key twice');
  const f = Math.floor((n - 1) / 3);
  // node.kernel.chain.ValidatorSet: any two quorums share a correct validator, q = ceil((n + f + 1) / 2)
  // (2f + 1 when n = 3f + 1; 4 of 5 and 4 of 6, where 2f + 1 would let 3 commit two blocks).
  return { validators, n, f, quorum: Math.floor((n + f + 2) / 2) };
}

/** The first height of an epoch approved at ``approval`` after ``latest``: the block after the first
 * checkpoint strictly above the approval, never sharing or preceding ``latest``'s boundary. */
export function nextFirstHeight(latest, approval, interval) {
  const boundary = (approval / interval + 1n) * interval + 1n;
  const after = latest.first_height + interval;
  return boundary > after ? boundary : after;
}

/** node.ledger.epochs.check_succession: ProofError unless ``record`` may follow ``previous``. */
export async function checkSuccession(previous, record, interval) {
  const what = `epoch ${record.epoch}`;
  if (record.epoch !== previous.epoch + 1n) throw new ProofError(`${what} does not follow epoch ${previous.epoch}`);
  if (record.previous !== await recordHash(previous)) {
    throw new ProofError(`${what} names ${record.previous.slice(0, 16)}… as its predecessor, not the hash of epoch ${previous.epoch}`);
  }
  if (!record.proposal) throw new ProofError(`${what} names no proposal`);
  const floor = previous.approved_height > 1n ? previous.approved_height : 1n;
  if (record.approved_height < floor) {
    throw new ProofError(`${what} was approved at height ${record.approved_height}, before epoch ${previous.epoch} was`);
  }
  const expected = nextFirstHeight(previous, record.approved_height, interval);
  if (record.first_height !== expected) {
    throw new ProofError(`${what} starts at height ${record.first_height}; approved at height ${record.approved_height} it must start at ${expected}`);
  }
  if (BigInt(record.validators.length) > MAX_VALIDATORS) {
    throw new ProofError(`${what} has ${record.validators.length} validators; at most ${MAX_VALIDATORS}`);
  }
  await validatorSetOf(record);
}

/** The record in force at ``height``: the last one (records in epoch order, epoch 0 first) whose first_height <= height. */
export function epochOf(records, height) {
  let found = records[0];
  for (const record of records.slice(1)) {
    if (record.first_height > height) break;
    found = record;
  }
  return found;
}

/** The record a result's single epoch_scheduled event carries, checked against the event's hash. */
export async function scheduledRecord(result) {
  const isEvent = (e) => e !== null && typeof e === 'object' && !Array.isArray(e) && e.type === 'epoch_scheduled';
  const events = Array.isArray(result.events) ? result.events.filter(isEvent) : [];
  if (events.length !== 1) throw new ProofError(`its result schedules ${events.length} epochs; an epoch change schedules exactly one`);
  let record;
  try {
    record = convert(events[0].epoch === undefined ? null : events[0].epoch, EPOCH_RECORD);
  } catch (e) {
    throw new ProofError(`its epoch record is malformed: ${e.message.replace('malformed proof bundle: ', '')}`);
  }
  if (events[0].hash !== await recordHash(record)) throw new ProofError(`epoch ${record.epoch}: the event's hash is not the hash of its record`);
  return record;
}

// ---- a bundle's epoch changes ----------------------------------------------------------------------

/**
 * Epoch records from genesis through ``changes`` (checked transactions of the bundle's ``epochs``,
 * in order), each proven under the one before: node.bundle_epochs.establish_epochs.
 * ``provingHeights(h)`` lists the headers that certify block h's transaction and result;
 * ``verifyHeader(height, set)`` checks one certificate; ``verifyTx(t)`` one transaction's signature.
 * Returns {records, sets, verified: heights whose certificates were checked here}.
 */
export async function establishEpochs(changes, genesis, provingHeights, verifyHeader, verifyTx) {
  const records = [genesisEpoch(genesis.validators)];
  const sets = [await validatorSetOf(records[0])];
  const verified = new Set();
  for (const t of changes) {
    const { height, id, type, sender, payload } = t.verified;
    const what = `epoch change at height ${height} (transaction ${id})`;
    if (t.result === null) throw new ProofError(`${what} carries no proven result`);
    if (!GOVERNANCE_TXS.has(type)) throw new ProofError(`${what} is a '${type}', not a governance transaction`);
    if (!genesis.admins.has(sender)) throw new ProofError(`${what} is signed by ${sender}, not an alliance admin of genesis`);
    let record;
    try {
      record = await scheduledRecord(t.result);
      await checkSuccession(records[records.length - 1], record, genesis.checkpointInterval);
    } catch (e) {
      if (!(e instanceof ProofError)) throw e;
      throw new ProofError(`${what}: ${e.message}`);
    }
    const named = type === 'propose_validator_change' ? id : payload.proposal;
    if (record.proposal !== named || record.approved_height !== height) {
      throw new ProofError(`${what} does not enact proposal ${record.proposal.slice(0, 16)}… at height ${record.approved_height}`);
    }
    for (const proofHeight of provingHeights(height)) {
      if (proofHeight >= record.first_height) { // the new set would vouch for itself
        throw new ProofError(`${what}: header ${proofHeight} that proves it is not certified by the set before it`);
      }
      await verifyHeader(proofHeight, sets[Number(epochOf(records, proofHeight).epoch)]);
      verified.add(proofHeight);
    }
    await verifyTx(t);
    records.push(record);
    sets.push(await validatorSetOf(record));
  }
  return { records, sets, verified };
}
