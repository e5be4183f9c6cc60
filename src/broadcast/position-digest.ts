/**
 * Per-bucket version digests for `latestPosition` anti-entropy. Each key lives in one bucket
 * (hash of the key); a bucket's digest is the XOR of a 64-bit hash (two 32-bit lanes) of every
 * (key, ts) in it, so an update costs O(1): XOR the old version out and the new one in. Two
 * replicas hold the same versions in a bucket exactly when the digests match (up to 2^-64).
 */

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** FNV-1a over UTF-16 code units, finished with murmur3's fmix32 for avalanche. */
export function keyHash(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return fmix32(h);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export class BucketDigest {
  /** Lane 0 and lane 1 of bucket b at 2b and 2b + 1. */
  private readonly lanes: Uint32Array;

  constructor(readonly buckets: number) {
    this.lanes = new Uint32Array(buckets * 2);
  }

  bucketOf(hash: number): number {
    return hash % this.buckets;
  }

  /** Adds or removes (XOR is its own inverse) the version `ts` of the key with hash `hash`. */
  toggle(hash: number, ts: number): void {
    // The exact bits of the double: versions that differ by less than 1 ms still differ.
    f64[0] = ts;
    const lo = u32[0]!;
    const hi = u32[1]!;
    const b = this.bucketOf(hash) * 2;
    this.lanes[b] = (this.lanes[b]! ^ fmix32(hash ^ fmix32(lo ^ 0x9e3779b9) ^ Math.imul(hi, 0x27d4eb2f))) >>> 0;
    this.lanes[b + 1] = (this.lanes[b + 1]! ^ fmix32(Math.imul(hash, 0xcc9e2d51) + fmix32(hi ^ 0x5bd1e995) + lo)) >>> 0;
  }

  /** Lanes of buckets [start, end) as a plain array (msgpack-friendly). */
  slice(start: number, end: number): number[] {
    return Array.from(this.lanes.subarray(start * 2, end * 2));
  }

  /** Whether bucket b's lanes equal the given pair. */
  equals(b: number, lane0: number, lane1: number): boolean {
    return this.lanes[b * 2] === lane0 && this.lanes[b * 2 + 1] === lane1;
  }
}
