import type { Clock } from '../util/clock.js';
import { PartisanError, isPartisanError } from '../util/errors.js';
import type { ExitReason, Process } from '../process/process.js';
import type { ProcessTable } from '../process/process-table.js';
import { isName, isPid, parseRef, ref as makeRefUri, type NodeName, type Pid, type Ref, type RegisteredName } from '../process/ref.js';

/**
 * Process and node monitors, as Erlang's and Partisan's partisan_monitor (§1.7):
 *
 * - `monitor(watcher, target)`: the watcher gets exactly one `{type:'DOWN', ref, kind:'process',
 *   target, reason}` — the exit reason, `'noproc'` for a dead or unknown process, or
 *   `'noconnection'` when the target's node is (or becomes) unreachable.
 * - `monitorNode(watcher, node)`: one `{type:'nodedown', node}` when the node goes down (at once
 *   if it is not connected); several calls from one process give one message, as Erlang.
 * - `monitorNodes(watcher, on)`: `{type:'nodeup'|'nodedown', node}` for every transition.
 *
 * Remote monitors are held on the target's node ("incoming") and mirrored on the watcher's
 * node ("outgoing"), indexed by node so a node going down settles all of them at once. Every
 * entry is removed on DOWN, on demonitor, and when the watcher exits: nothing leaks.
 * The tables belong to the node, not to the peer service, so restarting membership keeps them.
 */

export interface DownMessage {
  type: 'DOWN';
  ref: Ref;
  kind: 'process';
  target: Pid | RegisteredName;
  reason: ExitReason;
}

export interface NodeUpMessage {
  type: 'nodeup';
  node: string;
}

export interface NodeDownMessage {
  type: 'nodedown';
  node: string;
  reason: string;
}

export type MonitorMessage = DownMessage | NodeUpMessage | NodeDownMessage;

/** What travels between monitor services (target `$monitor`). */
type MonitorWire =
  | { t: 'monitor'; ref: Ref; target: number | string; watcher: Pid }
  | { t: 'demonitor'; ref: Ref }
  | { t: 'down'; ref: Ref; reason: ExitReason };

export interface MonitorHost {
  readonly node: NodeName;
  readonly processes: ProcessTable;
  readonly clock: Clock;
  /** Send a `$monitor` body to `node`; throws a coded error when it cannot. */
  sendService(node: string, body: MonitorWire): void;
  isConnected(node: string): boolean;
  nextRefId(): number;
}

interface Outgoing {
  watcher: Process;
  target: Pid | RegisteredName;
  node: string;
  unsubscribe: () => void;
}

interface Incoming {
  watcherNode: string;
  unsubscribe: () => void;
}

interface Local {
  watcher: Process;
  unsubscribeTarget: () => void;
  unsubscribeWatcher: () => void;
}

export class MonitorService {
  private readonly outgoing = new Map<Ref, Outgoing>();
  private readonly outgoingByNode = new Map<string, Set<Ref>>();
  private readonly incoming = new Map<Ref, Incoming>();
  private readonly incomingByNode = new Map<string, Set<Ref>>();
  private readonly local = new Map<Ref, Local>();
  private readonly nodeWatchers = new Map<string, Map<Process, () => void>>();
  private readonly nodesWatchers = new Map<Process, () => void>();

  constructor(private readonly host: MonitorHost) {}

  /** Sizes of every table, for leak checks and metrics. */
  tableSizes(): Record<string, number> {
    let byNode = 0;
    for (const s of this.outgoingByNode.values()) byNode += s.size;
    for (const s of this.incomingByNode.values()) byNode += s.size;
    let nodeWatchers = 0;
    for (const m of this.nodeWatchers.values()) nodeWatchers += m.size;
    return {
      outgoing: this.outgoing.size,
      incoming: this.incoming.size,
      local: this.local.size,
      byNode,
      nodeWatchers,
      nodesWatchers: this.nodesWatchers.size,
    };
  }

  /** Monitor `target` (a pid or registered name, local or remote) on behalf of `watcher`. */
  monitor(watcher: Process, target: Pid | RegisteredName): Ref {
    const monitorRef = makeRefUri(this.host.node, this.host.nextRefId());
    const parts = parseRef(target);
    if (parts.kind === 'ref') throw new PartisanError('ERR_INVALID_REF', `cannot monitor a reference: ${target}`);
    if (parts.node === this.host.node) {
      const process = parts.kind === 'pid' ? this.host.processes.get(parts.id) : this.host.processes.whereis(parts.name);
      if (!process || !process.isAlive) {
        this.deliver(watcher, { type: 'DOWN', ref: monitorRef, kind: 'process', target, reason: 'noproc' });
        return monitorRef;
      }
      const entry: Local = { watcher, unsubscribeTarget: () => {}, unsubscribeWatcher: () => {} };
      this.local.set(monitorRef, entry);
      entry.unsubscribeTarget = process.onExit((reason) => {
        this.dropLocal(monitorRef);
        this.deliver(watcher, { type: 'DOWN', ref: monitorRef, kind: 'process', target, reason });
      });
      entry.unsubscribeWatcher = watcher.onExit(() => this.dropLocal(monitorRef));
      return monitorRef;
    }
    const node = parts.node;
    if (!this.host.isConnected(node)) {
      this.deliver(watcher, { type: 'DOWN', ref: monitorRef, kind: 'process', target, reason: 'noconnection' });
      return monitorRef;
    }
    try {
      this.host.sendService(node, { t: 'monitor', ref: monitorRef, target: parts.kind === 'pid' ? parts.id : parts.name, watcher: watcher.pid });
    } catch (err) {
      if (!isPartisanError(err)) throw err;
      this.deliver(watcher, { type: 'DOWN', ref: monitorRef, kind: 'process', target, reason: 'noconnection' });
      return monitorRef;
    }
    const unsubscribe = watcher.onExit(() => {
      if (this.dropOutgoing(monitorRef)) this.trySend(node, { t: 'demonitor', ref: monitorRef });
    });
    this.outgoing.set(monitorRef, { watcher, target, node, unsubscribe });
    addToIndex(this.outgoingByNode, node, monitorRef);
    return monitorRef;
  }

  /**
   * Remove a monitor. With `flush`, a DOWN for it already in the watcher's mailbox is removed
   * too. Returns true when the monitor was still active. Like Partisan (and unlike Erlang) it
   * does not fail for a ref the caller does not own.
   */
  demonitor(monitorRef: Ref, options: { flush?: boolean; watcher?: Process } = {}): boolean {
    let active = false;
    const out = this.outgoing.get(monitorRef);
    if (out) {
      active = this.dropOutgoing(monitorRef);
      this.trySend(out.node, { t: 'demonitor', ref: monitorRef });
      if (options.flush) flushDown(out.watcher, monitorRef);
    } else if (this.local.has(monitorRef)) {
      const entry = this.local.get(monitorRef)!;
      active = this.dropLocal(monitorRef);
      if (options.flush) flushDown(entry.watcher, monitorRef);
    } else if (options.flush && options.watcher) {
      flushDown(options.watcher, monitorRef);
    }
    return active;
  }

  /** `{type:'nodedown'}` to `watcher` once, when `node` goes down (now if not connected). */
  monitorNode(watcher: Process, node: string, on: boolean): void {
    if (!on) {
      const watchers = this.nodeWatchers.get(node);
      const unsubscribe = watchers?.get(watcher);
      if (unsubscribe) {
        unsubscribe();
        watchers!.delete(watcher);
        if (watchers!.size === 0) this.nodeWatchers.delete(node);
      }
      return;
    }
    if (!this.host.isConnected(node)) {
      this.deliver(watcher, { type: 'nodedown', node, reason: 'noconnection' });
      return;
    }
    let watchers = this.nodeWatchers.get(node);
    if (!watchers) {
      watchers = new Map();
      this.nodeWatchers.set(node, watchers);
    }
    if (watchers.has(watcher)) return;
    watchers.set(
      watcher,
      watcher.onExit(() => this.monitorNode(watcher, node, false)),
    );
  }

  /** Subscribe `watcher` to every nodeup / nodedown (or unsubscribe). */
  monitorNodes(watcher: Process, on: boolean): void {
    const existing = this.nodesWatchers.get(watcher);
    if (!on) {
      existing?.();
      this.nodesWatchers.delete(watcher);
      return;
    }
    if (existing) return;
    this.nodesWatchers.set(
      watcher,
      watcher.onExit(() => this.nodesWatchers.delete(watcher)),
    );
  }

  // ---- driven by the node ----

  nodeUp(node: string): void {
    for (const watcher of this.nodesWatchers.keys()) this.deliver(watcher, { type: 'nodeup', node });
  }

  /** The connection to `node` is gone: settle everything that depends on it. */
  nodeDown(node: string, reason = 'noconnection'): void {
    const out = this.outgoingByNode.get(node);
    if (out) {
      for (const monitorRef of [...out]) {
        const entry = this.outgoing.get(monitorRef);
        if (!entry) continue;
        this.dropOutgoing(monitorRef);
        this.deliver(entry.watcher, { type: 'DOWN', ref: monitorRef, kind: 'process', target: entry.target, reason: 'noconnection' });
      }
    }
    const inc = this.incomingByNode.get(node);
    if (inc) for (const monitorRef of [...inc]) this.dropIncoming(monitorRef);
    const watchers = this.nodeWatchers.get(node);
    if (watchers) {
      this.nodeWatchers.delete(node);
      for (const [watcher, unsubscribe] of watchers) {
        unsubscribe();
        this.deliver(watcher, { type: 'nodedown', node, reason });
      }
    }
    for (const watcher of this.nodesWatchers.keys()) this.deliver(watcher, { type: 'nodedown', node, reason });
  }

  /** A `$monitor` message from `from`. */
  handle(from: string, body: unknown): void {
    const msg = body as MonitorWire;
    switch (msg?.t) {
      case 'monitor':
        this.onRemoteMonitor(from, msg);
        break;
      case 'demonitor':
        this.dropIncoming(msg.ref);
        break;
      case 'down': {
        const entry = this.outgoing.get(msg.ref);
        if (!entry || entry.node !== from) return;
        this.dropOutgoing(msg.ref);
        this.deliver(entry.watcher, { type: 'DOWN', ref: msg.ref, kind: 'process', target: entry.target, reason: msg.reason });
        break;
      }
      default:
        break;
    }
  }

  private onRemoteMonitor(from: string, msg: { ref: Ref; target: number | string; watcher: Pid }): void {
    if (typeof msg.ref !== 'string' || !isPid(msg.watcher)) return;
    const process = typeof msg.target === 'number' ? this.host.processes.get(msg.target) : this.host.processes.whereis(String(msg.target));
    if (!process || !process.isAlive) {
      this.trySend(from, { t: 'down', ref: msg.ref, reason: 'noproc' });
      return;
    }
    const unsubscribe = process.onExit((reason) => {
      if (this.dropIncoming(msg.ref)) this.trySend(from, { t: 'down', ref: msg.ref, reason });
    });
    this.incoming.set(msg.ref, { watcherNode: from, unsubscribe });
    addToIndex(this.incomingByNode, from, msg.ref);
  }

  private dropOutgoing(monitorRef: Ref): boolean {
    const entry = this.outgoing.get(monitorRef);
    if (!entry) return false;
    this.outgoing.delete(monitorRef);
    entry.unsubscribe();
    removeFromIndex(this.outgoingByNode, entry.node, monitorRef);
    return true;
  }

  private dropIncoming(monitorRef: Ref): boolean {
    const entry = this.incoming.get(monitorRef);
    if (!entry) return false;
    this.incoming.delete(monitorRef);
    entry.unsubscribe();
    removeFromIndex(this.incomingByNode, entry.watcherNode, monitorRef);
    return true;
  }

  private dropLocal(monitorRef: Ref): boolean {
    const entry = this.local.get(monitorRef);
    if (!entry) return false;
    this.local.delete(monitorRef);
    entry.unsubscribeTarget();
    entry.unsubscribeWatcher();
    return true;
  }

  private trySend(node: string, body: MonitorWire): void {
    try {
      this.host.sendService(node, body);
    } catch {
      // Best effort, as Partisan documents: DOWN delivery is not guaranteed across failures;
      // a lost connection settles the watcher's side with noconnection instead.
    }
  }

  private deliver(watcher: Process, message: MonitorMessage): void {
    watcher.mailbox.push(message);
  }
}

function flushDown(watcher: Process, monitorRef: Ref): void {
  watcher.tryReceive((m) => (m as DownMessage)?.type === 'DOWN' && (m as DownMessage).ref === monitorRef);
}

function addToIndex(index: Map<string, Set<Ref>>, node: string, monitorRef: Ref): void {
  let set = index.get(node);
  if (!set) {
    set = new Set();
    index.set(node, set);
  }
  set.add(monitorRef);
}

function removeFromIndex(index: Map<string, Set<Ref>>, node: string, monitorRef: Ref): void {
  const set = index.get(node);
  if (!set) return;
  set.delete(monitorRef);
  if (set.size === 0) index.delete(node);
}

export function isMonitorTarget(x: unknown): x is Pid | RegisteredName {
  return isPid(x) || isName(x);
}
