import { waitAsync } from '../util/atomics.js';
import { InvalidOptionError, PartisanError } from '../util/errors.js';

/**
 * The connection table: connection status in a SharedArrayBuffer, so every thread (the main
 * thread, each channel worker) answers `isConnected(node, channel)` with `Atomics.load` and
 * no message round trip. The main thread is the only writer; any thread may read.
 *
 * Layout (Int32 words), after piscina's habit of naming every offset in one place:
 *
 *   header   MAGIC | SLOTS | CHANNELS | DIRECTORY_VERSION | CHANGES | parallelism[CHANNELS]
 *   slot i   GENERATION | STATE | NAME_LENGTH | name bytes (NAME_WORDS words) | streams[CHANNELS]
 *
 * A slot binds one node name. Names live in the buffer too, so a reader resolves a name
 * without asking the main thread; it caches name → slot and rebuilds the cache whenever
 * DIRECTORY_VERSION moved. A released slot gets its GENERATION bumped before reuse, so a
 * reader holding an old slot number can tell it now belongs to someone else.
 */

const MAGIC = 0x50545331; // "PTS1"

const H_MAGIC = 0;
const H_SLOTS = 1;
const H_CHANNELS = 2;
/** Bumped (with a notify) whenever a slot is assigned or released. */
const H_DIRECTORY_VERSION = 3;
/** Bumped (with a notify) on every change at all; `waitForChange` sleeps on it. */
const H_CHANGES = 4;
const H_PARALLELISM = 5;

const S_GENERATION = 0;
const S_STATE = 1;
const S_NAME_LENGTH = 2;
const S_NAME = 3;
/** Node names are at most this many UTF-8 bytes (Erlang atoms are at most 255 characters). */
export const MAX_NODE_NAME_BYTES = 256;
const NAME_WORDS = MAX_NODE_NAME_BYTES / 4;

const STATE_FREE = 0;
const STATE_ASSIGNED = 1;

export interface ConnectionTableChannel {
  name: string;
  /** Streams a fully connected peer has on this channel. */
  parallelism: number;
}

export interface ConnectionTableOptions {
  /** Peer slots; every member the node may connect to needs one. Default 1024. */
  maxPeers?: number;
  channels: readonly ConnectionTableChannel[];
}

/** What a thread needs to attach to the table: the buffer plus the channel names in column order. */
export interface ConnectionTableHandle {
  buffer: SharedArrayBuffer;
  channels: string[];
}

export class ConnectionTable {
  private readonly words: Int32Array;
  private readonly slots: number;
  private readonly channelNames: string[];
  private readonly channelIndex: Map<string, number>;
  private readonly stride: number;
  private readonly base: number;
  private cacheVersion = -1;
  private cache = new Map<string, number>();

  private constructor(readonly buffer: SharedArrayBuffer, channels: string[]) {
    this.words = new Int32Array(buffer);
    if (this.words[H_MAGIC] !== MAGIC) throw new PartisanError('ERR_INVALID_OPTION', 'buffer is not a connection table');
    this.slots = this.words[H_SLOTS]!;
    if (this.words[H_CHANNELS] !== channels.length) {
      throw new PartisanError('ERR_INVALID_OPTION', `connection table has ${this.words[H_CHANNELS]} channels, ${channels.length} names given`);
    }
    this.channelNames = channels;
    this.channelIndex = new Map(channels.map((c, i) => [c, i]));
    this.stride = S_NAME + NAME_WORDS + channels.length;
    this.base = H_PARALLELISM + channels.length;
  }

  /** A new table (main thread). */
  static create(options: ConnectionTableOptions): ConnectionTable {
    const maxPeers = options.maxPeers ?? 1024;
    if (!Number.isInteger(maxPeers) || maxPeers < 1 || maxPeers > 1_000_000) {
      throw new InvalidOptionError('maxPeers', maxPeers, 'expected an integer in [1, 1000000]');
    }
    const channels = options.channels;
    if (channels.length === 0) throw new InvalidOptionError('channels', channels, 'expected at least one channel');
    const stride = S_NAME + NAME_WORDS + channels.length;
    const words = H_PARALLELISM + channels.length + maxPeers * stride;
    const buffer = new SharedArrayBuffer(words * 4);
    const view = new Int32Array(buffer);
    view[H_MAGIC] = MAGIC;
    view[H_SLOTS] = maxPeers;
    view[H_CHANNELS] = channels.length;
    channels.forEach((c, i) => {
      view[H_PARALLELISM + i] = c.parallelism;
    });
    return new ConnectionTable(buffer, channels.map((c) => c.name));
  }

  /** Attach to a table created elsewhere (any thread). */
  static attach(handle: ConnectionTableHandle): ConnectionTable {
    return new ConnectionTable(handle.buffer, handle.channels);
  }

  /** What to send a worker so it can `attach`. */
  handle(): ConnectionTableHandle {
    return { buffer: this.buffer, channels: [...this.channelNames] };
  }

  get channels(): readonly string[] {
    return this.channelNames;
  }

  get capacity(): number {
    return this.slots;
  }

  // ---- readers (any thread) ----

  /** The slot of `node`, or -1 when it has none. */
  slotOf(node: string): number {
    const version = Atomics.load(this.words, H_DIRECTORY_VERSION);
    if (version !== this.cacheVersion) this.rebuildCache(version);
    return this.cache.get(node) ?? -1;
  }

  /** Generation of `node`'s slot, or -1. Changes whenever the slot is released and reused. */
  generation(node: string): number {
    const slot = this.slotOf(node);
    return slot < 0 ? -1 : Atomics.load(this.words, this.slotBase(slot) + S_GENERATION);
  }

  /** Open streams to `node` on `channel`. */
  openStreams(node: string, channel: string): number {
    const slot = this.slotOf(node);
    if (slot < 0) return 0;
    return Atomics.load(this.words, this.slotBase(slot) + S_NAME + NAME_WORDS + this.column(channel));
  }

  /** At least one open stream to `node` (on `channel`, when given). */
  isConnected(node: string, channel?: string): boolean {
    const slot = this.slotOf(node);
    if (slot < 0) return false;
    const counters = this.slotBase(slot) + S_NAME + NAME_WORDS;
    if (channel !== undefined) return Atomics.load(this.words, counters + this.column(channel)) > 0;
    for (let c = 0; c < this.channelNames.length; c++) if (Atomics.load(this.words, counters + c) > 0) return true;
    return false;
  }

  /** Every channel has all its `parallelism` streams open to `node` (Partisan's is_fully_connected). */
  isFullyConnected(node: string): boolean {
    const slot = this.slotOf(node);
    if (slot < 0) return false;
    const counters = this.slotBase(slot) + S_NAME + NAME_WORDS;
    for (let c = 0; c < this.channelNames.length; c++) {
      if (Atomics.load(this.words, counters + c) < Atomics.load(this.words, H_PARALLELISM + c)) return false;
    }
    return true;
  }

  /** Nodes with at least one open stream (on `channel`, when given). */
  connectedNodes(channel?: string): string[] {
    const version = Atomics.load(this.words, H_DIRECTORY_VERSION);
    if (version !== this.cacheVersion) this.rebuildCache(version);
    const out: string[] = [];
    for (const node of this.cache.keys()) if (this.isConnected(node, channel)) out.push(node);
    return out;
  }

  /** Counter bumped on every change; pair with `waitForChange`. */
  changes(): number {
    return Atomics.load(this.words, H_CHANGES);
  }

  /**
   * Block until the table changes from `seen` or `timeoutMs` passes (worker threads only:
   * Atomics.wait is not allowed on the main thread). Returns the new change count.
   */
  waitForChange(seen: number, timeoutMs: number): number {
    Atomics.wait(this.words, H_CHANGES, seen, timeoutMs);
    return Atomics.load(this.words, H_CHANGES);
  }

  /** Resolves when the table changes from `seen` (any thread; Atomics.waitAsync). */
  async changed(seen: number, timeoutMs: number): Promise<number> {
    await waitAsync(this.words, H_CHANGES, seen, timeoutMs);
    return Atomics.load(this.words, H_CHANGES);
  }

  // ---- writer (main thread only) ----

  /** Bind `node` to a slot (idempotent). Throws ERR_CONNECTION_TABLE_FULL. */
  assignSlot(node: string): number {
    const existing = this.slotOf(node);
    if (existing >= 0) return existing;
    const bytes = Buffer.from(node, 'utf8');
    if (bytes.length === 0 || bytes.length > MAX_NODE_NAME_BYTES) {
      throw new InvalidOptionError('node', node, `node names are 1..${MAX_NODE_NAME_BYTES} UTF-8 bytes`);
    }
    for (let slot = 0; slot < this.slots; slot++) {
      const at = this.slotBase(slot);
      if (Atomics.load(this.words, at + S_STATE) !== STATE_FREE) continue;
      const padded = Buffer.alloc(MAX_NODE_NAME_BYTES);
      bytes.copy(padded);
      const nameWords = new Int32Array(padded.buffer, padded.byteOffset, NAME_WORDS);
      for (let w = 0; w < NAME_WORDS; w++) Atomics.store(this.words, at + S_NAME + w, nameWords[w]!);
      Atomics.store(this.words, at + S_NAME_LENGTH, bytes.length);
      for (let c = 0; c < this.channelNames.length; c++) Atomics.store(this.words, at + S_NAME + NAME_WORDS + c, 0);
      // STATE last: a reader that sees ASSIGNED sees the whole name.
      Atomics.store(this.words, at + S_STATE, STATE_ASSIGNED);
      this.bump(true);
      return slot;
    }
    throw new PartisanError('ERR_CONNECTION_TABLE_FULL', `all ${this.slots} peer slots are in use (raise maxPeers)`, {
      details: { maxPeers: this.slots },
    });
  }

  /** Free `node`'s slot (its counters are zeroed; the generation moves on). */
  releaseSlot(node: string): void {
    const slot = this.slotOf(node);
    if (slot < 0) return;
    const at = this.slotBase(slot);
    for (let c = 0; c < this.channelNames.length; c++) Atomics.store(this.words, at + S_NAME + NAME_WORDS + c, 0);
    Atomics.add(this.words, at + S_GENERATION, 1);
    Atomics.store(this.words, at + S_STATE, STATE_FREE);
    this.bump(true);
  }

  /** One more open stream to `node` on `channel` (assigns a slot if needed). */
  streamOpened(node: string, channel: string): void {
    const slot = this.assignSlot(node);
    Atomics.add(this.words, this.slotBase(slot) + S_NAME + NAME_WORDS + this.column(channel), 1);
    this.bump(false);
  }

  /** One stream fewer; never goes below zero. */
  streamClosed(node: string, channel: string): void {
    const slot = this.slotOf(node);
    if (slot < 0) return;
    const at = this.slotBase(slot) + S_NAME + NAME_WORDS + this.column(channel);
    if (Atomics.load(this.words, at) > 0) Atomics.sub(this.words, at, 1);
    this.bump(false);
  }

  /** The whole connection to `node` is gone: every channel counter to zero. */
  nodeDisconnected(node: string): void {
    const slot = this.slotOf(node);
    if (slot < 0) return;
    const at = this.slotBase(slot) + S_NAME + NAME_WORDS;
    for (let c = 0; c < this.channelNames.length; c++) Atomics.store(this.words, at + c, 0);
    this.bump(false);
  }

  private bump(directory: boolean): void {
    if (directory) Atomics.add(this.words, H_DIRECTORY_VERSION, 1);
    Atomics.add(this.words, H_CHANGES, 1);
    Atomics.notify(this.words, H_CHANGES);
  }

  private column(channel: string): number {
    const index = this.channelIndex.get(channel);
    if (index === undefined) throw new PartisanError('ERR_UNKNOWN_CHANNEL', `unknown channel ${JSON.stringify(channel)}`, { details: { channel } });
    return index;
  }

  private slotBase(slot: number): number {
    return this.base + slot * this.stride;
  }

  private rebuildCache(version: number): void {
    // Seqlock-style: retry if the directory moved while we read it.
    for (;;) {
      const cache = new Map<string, number>();
      const name = Buffer.alloc(MAX_NODE_NAME_BYTES);
      const nameWords = new Int32Array(name.buffer, name.byteOffset, NAME_WORDS);
      for (let slot = 0; slot < this.slots; slot++) {
        const at = this.slotBase(slot);
        if (Atomics.load(this.words, at + S_STATE) !== STATE_ASSIGNED) continue;
        const length = Atomics.load(this.words, at + S_NAME_LENGTH);
        for (let w = 0; w < Math.ceil(length / 4); w++) nameWords[w] = Atomics.load(this.words, at + S_NAME + w);
        cache.set(name.toString('utf8', 0, length), slot);
      }
      const after = Atomics.load(this.words, H_DIRECTORY_VERSION);
      if (after === version) {
        this.cache = cache;
        this.cacheVersion = version;
        return;
      }
      version = after;
    }
  }
}
