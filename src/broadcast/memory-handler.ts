import type { BroadcastData, ExchangeStart, GraftResult, SyncBroadcastHandler } from './handler.js';

/** A broadcast of `MemoryBroadcastHandler`: a unique string id and any payload. */
export interface MemoryBroadcast<P> {
  id: string;
  payload: P;
}

/**
 * The simplest handler: every payload kept by unique id, no anti-entropy (Partisan's test
 * handlers do the same). Unbounded by design: for unit tests and the simulator only.
 */
export class MemoryBroadcastHandler<P = unknown> implements SyncBroadcastHandler<string, P, MemoryBroadcast<P>> {
  readonly store = new Map<string, P>();

  idKey(id: string): string {
    return id;
  }

  broadcastData(message: MemoryBroadcast<P>): BroadcastData<string, P> | undefined {
    if (this.store.has(message.id)) return undefined;
    this.store.set(message.id, message.payload);
    return { id: message.id, payload: message.payload };
  }

  merge(id: string, payload: P): boolean {
    if (this.store.has(id)) return false;
    this.store.set(id, payload);
    return true;
  }

  isStale(id: string): boolean {
    return this.store.has(id);
  }

  graft(id: string): GraftResult<P> {
    return this.store.has(id) ? { ok: this.store.get(id) as P } : { error: 'unknown id' };
  }

  exchange(): ExchangeStart {
    return 'ignore';
  }

  exchangeMessage(): readonly unknown[] {
    return [];
  }
}
