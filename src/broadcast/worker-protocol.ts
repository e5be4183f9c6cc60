import type { ConnectionTableHandle } from '../connections/connection-table.js';
import type { ResolvedBroadcastChannel } from './channel-config.js';
import type { PackedSend, PeerSend } from './frame-batch.js';

/**
 * Messages between the main thread and a channel group (a worker, or the inline group of
 * `worker: false` channels). Hot-path traffic is batches only: `in` carries every frame of
 * one raw read, `bcast` every local broadcast of a turn, `out` everything a turn produced.
 */

/** What a group starts from (a worker's workerData). Plain data: it is structured-cloned. */
export interface GroupInit {
  node: string;
  group: string;
  channels: ResolvedBroadcastChannel[];
  table: ConnectionTableHandle;
  maxFrameSize: number;
  members: string[];
  /** Channels with at least one local subscriber. */
  subscribed: string[];
  /** This group replaces one that died: its drivers run catch-up exchanges at once. */
  restarted: boolean;
}

export type GroupRequestOp = 'metrics' | 'exchanges' | 'cancelExchanges' | 'broadcastMembers';

export type ToGroup =
  | { t: 'in'; id: number; channel: string; from: string; data: Uint8Array }
  | { t: 'bcast'; items: Array<[channel: string, message: unknown]> }
  | { t: 'members'; members: string[] }
  | { t: 'subscribe'; channel: string; on: boolean }
  | { t: 'req'; id: number; op: GroupRequestOp; channels: string[]; arg?: unknown }
  | { t: 'ping'; seq: number };

/** An error as data (codes survive; classes don't cross threads). */
export interface SerializedError {
  code?: string;
  message: string;
  details?: Record<string, unknown>;
}

/** One turn's output: frames to write, raw batches fully processed (credit), accepted updates. */
export interface GroupOutput {
  sends: PeerSend[];
  consumed: number[];
  updates: Array<[channel: string, items: unknown[]]>;
}

/** From a group, in-thread form. */
export type GroupEvent =
  | { t: 'out'; out: GroupOutput }
  | { t: 'res'; id: number; ok: true; value: unknown }
  | { t: 'res'; id: number; ok: false; error: SerializedError }
  | { t: 'pong'; seq: number };

/** From a worker, as posted: `out` has its frames packed into one transferred buffer. */
export type FromWorker =
  | { t: 'ready' }
  | { t: 'fatal'; error: SerializedError }
  | { t: 'out'; data: Uint8Array; sends: PackedSend[]; consumed: number[]; updates: Array<[string, unknown[]]> }
  | Exclude<GroupEvent, { t: 'out' }>;

export function serializeError(err: unknown): SerializedError {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; details?: unknown };
    return {
      message: e.message,
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
      ...(e.details !== null && typeof e.details === 'object' ? { details: safeDetails(e.details as Record<string, unknown>) } : {}),
    };
  }
  return { message: String(err) };
}

function safeDetails(details: Record<string, unknown>): Record<string, unknown> | undefined {
  try {
    return structuredClone(details);
  } catch {
    return undefined;
  }
}
