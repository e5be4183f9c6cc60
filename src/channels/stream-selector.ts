/**
 * Which stream of a channel a message takes. Same partition key → same stream → in order
 * (Partisan: `partition_key` K picks connection K rem N). Integer keys map directly, like
 * Partisan; other keys through a stable 32-bit FNV-1a hash, so every process agrees.
 */
export type PartitionKey = string | number;

export function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // Hash UTF-16 code units as two bytes each: stable, and no encoding step on the hot path.
    h = Math.imul(h ^ (c & 0xff), 0x01000193);
    h = Math.imul(h ^ (c >>> 8), 0x01000193);
  }
  return h >>> 0;
}

/** Stream slot in [0, parallelism) for `key`. */
export function slotForKey(key: PartitionKey, parallelism: number): number {
  if (parallelism === 1) return 0;
  if (typeof key === 'number' && Number.isSafeInteger(key) && key >= 0) return key % parallelism;
  return fnv1a(typeof key === 'string' ? key : String(key)) % parallelism;
}

/** Round robin over the slots of one channel, for messages without a key. */
export class RoundRobin {
  private next = 0;
  constructor(private readonly parallelism: number) {}
  slot(): number {
    const s = this.next;
    this.next = s + 1 === this.parallelism ? 0 : s + 1;
    return s;
  }
}
