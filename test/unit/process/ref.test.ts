import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  REMOTE_REF_PADDED_BYTES,
  encodeRef,
  formatRef,
  isLocal,
  isName,
  isNodeName,
  isPid,
  isReference,
  isRemoteRef,
  parseRef,
  pid,
  ref,
  refNode,
  registeredName,
  resolveRemoteRefOptions,
  toNodeName,
  toRemoteRef,
  type RemoteRefParts,
} from '../../../src/process/ref.js';
import { isPartisanError } from '../../../src/util/errors.js';

const alnum = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789');
const word = (chars: fc.Arbitrary<string>, max: number) => fc.string({ unit: chars, minLength: 1, maxLength: max });
const namePart = word(fc.oneof(alnum, fc.constantFrom('_', '.', '-', '+')), 20);
const dnsHost = fc.array(word(alnum, 10), { minLength: 1, maxLength: 4 }).map((l) => l.join('.'));
const ipv6Host = fc.ipV6().map((h) => `[${h}]`);
const host = fc.oneof(fc.ipV4(), dnsHost, ipv6Host);
const nodeArb = fc.tuple(namePart, host).map(([n, h]) => toNodeName(`${n}@${h}`));
const registered = word(fc.integer({ min: 0x21, max: 0x7e }).filter((c) => c !== 0x3a).map((c) => String.fromCharCode(c)), 40);
const partsArb: fc.Arbitrary<RemoteRefParts> = fc.oneof(
  fc.record({ kind: fc.constant('pid' as const), node: nodeArb, id: fc.maxSafeNat() }),
  fc.record({ kind: fc.constant('ref' as const), node: nodeArb, id: fc.maxSafeNat() }),
  fc.record({ kind: fc.constant('name' as const), node: nodeArb, name: registered }),
);

function throwsInvalidRef(fn: () => unknown): void {
  assert.throws(fn, (err: unknown) => isPartisanError(err, 'ERR_INVALID_REF'));
}

describe('remote refs', () => {
  it('formats the three Partisan URI kinds', () => {
    const node = toNodeName('gw1@10.0.0.5');
    assert.equal(pid(node, 42), 'partisan:pid:gw1@10.0.0.5:42');
    assert.equal(ref(node, 7), 'partisan:ref:gw1@10.0.0.5:7');
    assert.equal(registeredName(node, 'logger'), 'partisan:name:gw1@10.0.0.5:logger');
    assert.deepEqual(parseRef('partisan:name:gw1@10.0.0.5:logger'), { kind: 'name', node, name: 'logger' });
  });

  it('brackets IPv6 hosts so `:` stays the separator', () => {
    assert.equal(toNodeName('gw@fd00::1'), 'gw@[fd00::1]');
    assert.equal(toNodeName('gw@[fd00::1]'), 'gw@[fd00::1]');
    const p = pid('gw@fd00::1', 3);
    assert.equal(p, 'partisan:pid:gw@[fd00::1]:3');
    assert.deepEqual(parseRef(p), { kind: 'pid', node: 'gw@[fd00::1]', id: 3 });
    assert.equal(refNode(registeredName('a@[::1%eth0]', 'x')), 'a@[::1%eth0]');
    throwsInvalidRef(() => parseRef('partisan:pid:gw@fd00::1:3'));
    throwsInvalidRef(() => toNodeName('gw@[fd00::1'));
  });

  it('pads to 65 bytes with `:` and 0x1f like Partisan, and parses either form', () => {
    const p = pid('a@b', 1);
    const padded = encodeRef(p, { remoteRefBinaryPadding: true });
    assert.equal(padded.length, REMOTE_REF_PADDED_BYTES);
    assert.equal(padded, `${p}:${'\x1f'.repeat(REMOTE_REF_PADDED_BYTES - p.length - 1)}`);
    assert.equal(encodeRef(p), p);
    assert.equal(toRemoteRef(padded), p);
    assert.equal(isRemoteRef(padded), false, 'padding is a wire form, not a canonical ref');
    const long = registeredName('node@host.example', 'x'.repeat(60));
    assert.equal(encodeRef(long, { remoteRefBinaryPadding: true }), long);
    throwsInvalidRef(() => parseRef(`${p}${'\x1f'.repeat(REMOTE_REF_PADDED_BYTES - p.length)}`));
  });

  it('has one padding option key (Partisan §7.6 read another key than it set)', () => {
    assert.deepEqual(resolveRemoteRefOptions(), { remoteRefBinaryPadding: false });
    assert.deepEqual(resolveRemoteRefOptions({ remoteRefBinaryPadding: true }), { remoteRefBinaryPadding: true });
    assert.throws(() => resolveRemoteRefOptions({ remoteRefUriPadding: true } as never), (e: unknown) => isPartisanError(e, 'ERR_INVALID_OPTION'));
  });

  it('predicates and isLocal', () => {
    const here = toNodeName('n1@h');
    const p = pid(here, 1);
    const r = ref(here, 1);
    const n = registeredName('n2@h', 'svc');
    assert.ok(isPid(p) && !isPid(r) && !isPid(n));
    assert.ok(isReference(r) && !isReference(p));
    assert.ok(isName(n) && !isName(p));
    assert.ok(isLocal(p, here) && !isLocal(n, here));
    assert.ok(isNodeName(here) && !isNodeName('nohost') && !isNodeName('a@fd00::1'));
    for (const bad of [undefined, 3, {}, 'partisan:pid:x', 'partisan:pid:a@b:01', 'partisan:pid:a@b:-1', 'partisan:ref:a@b:1.5']) {
      assert.equal(isRemoteRef(bad), false, String(bad));
    }
  });

  it('malformed input is ERR_INVALID_REF', () => {
    for (const bad of ['', 'partisan:', 'partisan:pod:a@b:1', 'partisan:pid:a@b:', 'partisan:pid:ab:1', 'partisan:name:a@b:x:y',
      'partisan:pid:a@b:99999999999999999', 'partisan:name:a@b:has space', 'urn:pid:a@b:1']) {
      throwsInvalidRef(() => parseRef(bad));
    }
    throwsInvalidRef(() => pid('a@b', -1));
    throwsInvalidRef(() => registeredName('a@b', 'x:y'));
  });

  it('any valid ref round-trips, padded or not (property)', () => {
    fc.assert(
      fc.property(partsArb, fc.boolean(), (parts, padding) => {
        const uri = formatRef(parts);
        const wire = encodeRef(uri, { remoteRefBinaryPadding: padding });
        assert.deepEqual(parseRef(wire), { ...parts });
        assert.equal(toRemoteRef(wire), uri);
        assert.ok(isRemoteRef(uri));
        if (padding) assert.ok(wire.length >= REMOTE_REF_PADDED_BYTES);
      }),
      { numRuns: 2000 },
    );
  });

  it('arbitrary strings never throw anything but ERR_INVALID_REF (property)', () => {
    const near = fc.tuple(fc.constantFrom('partisan:pid:', 'partisan:ref:', 'partisan:name:', 'partisan:', ''), fc.string({ maxLength: 80 }))
      .map(([a, b]) => a + b);
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 100 }), fc.string({ unit: 'binary', maxLength: 100 }), near), (s) => {
        try {
          const parts = parseRef(s);
          assert.equal(toRemoteRef(formatRef(parts)), toRemoteRef(s), 'what parses is canonical after one round');
        } catch (err) {
          assert.ok(isPartisanError(err, 'ERR_INVALID_REF'), String(err));
        }
      }),
      { numRuns: 3000 },
    );
  });
});
