/**
 * A short fingerprint of a CRDT state, so replicas can tell "converged" from "not yet" by
 * comparing a string instead of whole states. Not cryptographic: peers are authenticated by
 * the transport, and a collision only delays one gossip round.
 */

/** cyrb53 (public domain): a fast 53-bit string hash with good avalanche. */
function cyrb53(text: string, seed: number): number {
  let h1 = 0xdeadbeef ^ seed;
  let h2 = 0x41c6ce57 ^ seed;
  for (let i = 0; i < text.length; i++) {
    const ch = text.charCodeAt(i);
    h1 = Math.imul(h1 ^ ch, 2654435761);
    h2 = Math.imul(h2 ^ ch, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return 4294967296 * (2097151 & h2) + (h1 >>> 0);
}

/** Two independent 53-bit hashes of `canonical`, as 28 hex digits. */
export function digestString(canonical: string): string {
  return cyrb53(canonical, 0).toString(16).padStart(14, '0') + cyrb53(canonical, 0x9e3779b9).toString(16).padStart(14, '0');
}
