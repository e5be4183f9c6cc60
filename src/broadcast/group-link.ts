import type { GroupEvent, SerializedError, ToGroup } from './worker-protocol.js';

/**
 * How the manager reaches a channel group: through a supervised worker (WorkerLink) or
 * directly on the main thread (InlineLink, `worker: false`). Both speak `ToGroup`/`GroupEvent`.
 */

/** `starting` until the group reports ready; `restarting` between a death and the next worker. */
export type LinkState = 'starting' | 'ready' | 'restarting' | 'stopped';

export type DownReason = 'crash' | 'heartbeat' | 'start-timeout';

export interface LinkEvents {
  event(event: GroupEvent): void;
  ready(restarted: boolean): void;
  down(reason: DownReason, error: SerializedError | undefined): void;
}

/** Messages counted across the link, for the "batches, not messages" check. */
export interface LinkCounters {
  /** Posts towards the group (main → worker). */
  posts: number;
  /** Messages back from the group (worker → main). */
  received: number;
}

export interface GroupLink {
  readonly state: LinkState;
  /** Resolves once the group is ready the first time; rejects if it cannot start. */
  start(): Promise<void>;
  /** Delivers `msg` to the group; only while a group exists (`starting` or `ready`). */
  post(msg: ToGroup, transfer?: ArrayBuffer[]): void;
  stop(): Promise<void>;
}
