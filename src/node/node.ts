import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type Logger } from 'pino';
import type { BroadcastLayer } from '../broadcast/layer.js';
import { DEFAULT_CHANNEL, type ResolvedChannel } from '../channels/channel-options.js';
import type { PartitionKey } from '../channels/stream-selector.js';
import { OffThreadDecoder, type OffThreadDecoderEvents } from '../channels/off-thread-decoder.js';
import { ConnectionManager, type ConnectionEvents } from '../connections/connection-manager.js';
import { ConnectionTable } from '../connections/connection-table.js';
import type { PeerIdentity } from '../connections/handshake.js';
import type { Lane, LaneQueue } from '../connections/lane.js';
import type { PeerService, PeerServiceHost } from '../membership/service.js';
import { FullMeshPeerService } from '../membership/drivers/full-mesh-service.js';
import { StaticPeerService } from '../membership/drivers/static-service.js';
import { HyParViewPeerService } from '../membership/drivers/hyparview-service.js';
import { parseNodeSpec, type NodeName, type NodeSpec } from '../membership/types.js';
import { MonitorService, type MonitorMessage } from '../monitor/monitor-service.js';
import { describeReason, errorReason, type ExitReason, Process } from '../process/process.js';
import { ProcessTable } from '../process/process-table.js';
import type { ReceiveOptions } from '../process/mailbox.js';
import {
  isName,
  isPid,
  isReference,
  isRemoteRef,
  encodeRef,
  toRemoteRef,
  parseRef,
  ref as refUri,
  registeredName,
  type Pid,
  type Ref,
  type RegisteredName,
  type RemoteRef,
} from '../process/ref.js';
import type { HostPort, Transport } from '../transport/transport.js';
import { PartisanError, isPartisanError, type ErrorCode } from '../util/errors.js';
import type { Envelope } from '../wire/frame.js';
import { resolveNodeOptions, type NodeOptions, type ResolvedNodeOptions } from './node-options.js';
import { ReliableDelivery } from './reliable-delivery.js';
import { PayloadCompression } from '../channels/compression.js';
import { createTransport } from './transport-factory.js';
import {
  classifyProblem,
  publishConnectionDown,
  publishConnectionUp,
  publishFrameError,
  publishHandshakeRefused,
} from '../observability/channels.js';
import { QueueRegistry, TrafficCounters } from '../observability/traffic.js';
import { setupNodeSecurity } from '../security/node-security.js';

/** Where a message can go: a pid, a registered name (URI), or `{ name, node }`. */
export type Destination = Pid | RegisteredName | { name: string; node: string };

export interface ForwardOptions {
  /** Channel to send on. Default 'default'. Unknown → ERR_UNKNOWN_CHANNEL. */
  channel?: string;
  /** Same key → same stream → in order. Default: round robin over the channel's streams. */
  partitionKey?: PartitionKey;
  /**
   * At-least-once on the wire, exactly once to the target: retransmitted until the target
   * process consumed it. The returned Promise resolves then, or rejects ERR_DELIVERY_TIMEOUT.
   * Default false (at most once).
   */
  ack?: boolean;
  /** Causal delivery under this label: delivered only after everything it causally follows. */
  causalLabel?: string;
}

/** Partisan's on_up/on_down scope: one node, or '_' for any. */
export type NodeFilter = string | '_';

interface PendingCall {
  node: string;
  resolve(value: unknown): void;
  reject(error: Error): void;
  timer: { cancel(): void };
}

/** Runtime service targets; user names cannot start with `$`. */
const SERVICE = {
  membership: '$membership',
  monitor: '$monitor',
  call: '$call',
  reply: '$reply',
} as const;

/** One connected peer, as `peerConnections()` reports it (operators' `status`, metrics). */
export interface PeerConnectionInfo {
  node: string;
  /** Whether this node dialed. */
  outbound: boolean;
  incarnation: number;
  /** Last keepalive round trip, ms (undefined until a ping was answered). */
  rttMs: number | undefined;
  /** Messages waiting in this peer's outbound queues. */
  queued: number;
  /** Channels both sides have, with the negotiated parallelism. */
  channels: Array<{ name: string; parallelism: number }>;
}

/** Exposed for remote `isProcessAlive` / `exit`, and for RPC to register more. */
export type CallHandler = (from: string, body: unknown) => unknown;

export class Node {
  readonly options: ResolvedNodeOptions;
  readonly logger: Logger;
  /** Connection status, readable from any thread (see ConnectionTable). */
  readonly connectionTable: ConnectionTable;
  readonly processes: ProcessTable;
  /** Application messages per (peer, channel) and raw-channel bytes, for metrics (src/observability). */
  readonly traffic = new TrafficCounters();
  /** Every outbound queue's counters, per channel (depths, drops), for metrics. */
  readonly queues = new QueueRegistry();
  private readonly manager: ConnectionManager;
  private readonly monitors: MonitorService;
  /** Created once the listen addresses are bound: its spec must carry the real ports. */
  private peerService!: PeerService;
  private broadcastLayer: BroadcastLayer | undefined;
  private readonly reliable: ReliableDelivery;
  private readonly compression: PayloadCompression;
  /** Channels whose frames the decode worker decodes (`decode: 'worker'`, not broadcast). */
  private readonly offThreadChannels: ReadonlySet<string>;
  private readonly broadcastChannels: ReadonlySet<string>;
  private readonly decoder: OffThreadDecoder | undefined;
  /** Per (peer, channel): sends queued behind a compression still running, so order holds. */
  private readonly compressing = new Map<string, Promise<void>>();
  /** Per lane: batches queued behind an inflate still running, so order holds. */
  private readonly inflating = new WeakMap<Lane, Envelope[][]>();
  private readonly incarnations = new Map<string, number>();
  private readonly current = new AsyncLocalStorage<Process>();
  private readonly shell: Process;
  private readonly incarnation: number;
  private readonly channelsByName: Map<string, ResolvedChannel>;
  private readonly services = new Map<string, (from: string, body: unknown, channel: string) => void>();
  private readonly callHandlers = new Map<string, CallHandler>();
  private readonly pendingCalls = new Map<number, PendingCall>();
  private readonly upListeners = new Set<{ filter: NodeFilter; channel: string | undefined; fn: (node: string) => void }>();
  private readonly downListeners = new Set<{ filter: NodeFilter; channel: string | undefined; fn: (node: string) => void }>();
  private readonly peerSpecs = new Map<string, NodeSpec>();
  private readonly destinationCache = new Map<string, { node: string; target: number | string }>();
  private spec_: NodeSpec;
  private nextCallId = 1;
  private nextRef = 1;
  private stopped = false;
  /** Messages addressed to a process or name that does not exist here. */
  deadLetters = 0;

  /** Use `startNode()`. */
  private constructor(options: ResolvedNodeOptions, transport: Transport, logger: Logger) {
    this.options = options;
    this.logger = logger;
    this.incarnation = options.clock.wallNow();
    this.channelsByName = new Map(options.channels.map((c) => [c.name, c]));
    this.spec_ = {
      name: options.name as NodeName,
      listenAddrs: options.listenAddrs,
      channels: options.channels.map((c) => c.name),
      ...(options.tag !== undefined ? { tag: options.tag } : {}),
    };
    this.connectionTable = ConnectionTable.create({ maxPeers: options.maxPeers, channels: options.channels });
    this.processes = new ProcessTable(options.name as NodeName, options.clock, options.mailboxCapacity);
    this.shell = this.processes.create();
    this.broadcastChannels = new Set(Object.keys(options.broadcast));
    this.offThreadChannels = new Set(options.channels.filter((c) => c.decode === 'worker' && !this.broadcastChannels.has(c.name)).map((c) => c.name));
    this.decoder = this.offThreadChannels.size > 0 ? new OffThreadDecoder(this.decoderEvents()) : undefined;
    this.manager = new ConnectionManager({
      node: options.name,
      clusterId: options.clusterId,
      incarnation: this.incarnation,
      spec: this.spec_,
      localState: () => this.peerService?.getLocalState(),
      transport,
      channels: options.channels,
      limits: options.wire,
      table: this.connectionTable,
      clock: options.clock,
      random: options.random,
      keepalive: options.keepalive,
      ...(options.authenticator ? { authenticator: options.authenticator } : {}),
      newQueue: (channel) => this.newQueue(channel),
      events: this.connectionEvents,
      rawChannels: new Set([...this.broadcastChannels, ...this.offThreadChannels]),
    });
    this.monitors = new MonitorService({
      node: options.name as NodeName,
      processes: this.processes,
      clock: options.clock,
      sendService: (node, body) => this.sendService(node, SERVICE.monitor, body),
      isConnected: (node) => this.isConnected(node),
      nextRefId: () => this.nextRef++,
    });
    this.compression = new PayloadCompression(options.compression);
    this.reliable = new ReliableDelivery(
      {
        self: options.name,
        incarnation: this.incarnation,
        clock: options.clock,
        random: options.random,
        send: (node, channel, envelope, key) => {
        void this.manager.send(node, channel, envelope, key);
        this.traffic.sent(node, channel);
      },
        sendAcks: (node, inc, ids) => void this.manager.sendAcks(node, inc, ids),
        deliver: (target, message) => this.deliverLocal(target, message),
        hasTarget: (target) => (typeof target === 'number' ? this.processes.get(target) : this.processes.whereis(target)) !== undefined,
        incarnationOf: (node) => this.incarnations.get(node),
        estimateSize: (envelope) => this.manager.sizeOf(envelope),
      },
      options.delivery,
    );
    this.services.set(SERVICE.membership, (from, body) => this.peerService.handle(from as NodeName, body));
    this.services.set(SERVICE.monitor, (from, body) => this.monitors.handle(from, body));
    this.services.set(SERVICE.call, (from, body, channel) => this.onCall(from, body, channel));
    this.services.set(SERVICE.reply, (from, body) => this.onReply(from, body));
    this.callHandlers.set('proc.alive', (_from, body) => {
      const p = this.processes.get(Number(body));
      return p !== undefined && p.isAlive;
    });
    this.callHandlers.set('proc.exit', (_from, body) => {
      const { id, reason } = body as { id: number; reason: ExitReason };
      this.processes.get(Number(id))?.exit(reason);
      return true;
    });
  }

  /** Start a node: resolve options, open the transport, listen, start the peer service. */
  static async start(options: NodeOptions = {}): Promise<Node> {
    let resolved = resolveNodeOptions(options);
    const logger = resolved.logger ?? pino({ name: resolved.name, level: resolved.logLevel }, pino.destination(2));
    if (resolved.security) {
      // Before the transport exists: QUIC must prove the key the node certificate names.
      const security = await setupNodeSecurity(resolved.security, {
        nodeName: resolved.name,
        transport: typeof resolved.transport === 'string' ? resolved.transport : 'custom',
        quic: resolved.quic,
        tcp: resolved.tcp,
        logger,
        now: () => new Date(resolved.clock.wallNow()),
      });
      resolved = Object.freeze({ ...resolved, authenticator: security.authenticator, quic: security.quic, tcp: security.tcp });
    }
    const transport = await createTransport(resolved);
    const node = new Node(resolved, transport, logger);
    try {
      const bound = await node.manager.start(resolved.listenAddrs);
      node.spec_ = { ...node.spec_, listenAddrs: bound };
      node.manager.setSpec(node.spec_);
      node.peerService = node.createPeerService();
    } catch (err) {
      await node.manager.stop();
      throw err;
    }
    if (Object.keys(resolved.broadcast).length > 0) {
      try {
        const { startBroadcastLayer } = await import('../broadcast/broadcast-manager.js');
        node.broadcastLayer = await startBroadcastLayer(
          {
            node: resolved.name,
            clock: resolved.clock,
            random: resolved.random,
            logger,
            limits: resolved.wire,
            table: node.connectionTable.handle(),
            sendEncoded: (peer, channel, frames, key) => {
              const ok = node.manager.sendEncoded(peer, channel, frames, key);
              if (ok) node.traffic.sentRaw(peer, channel, frames.length);
              return ok;
            },
            members: () => node.peerService.broadcastMembers(),
          },
          resolved.broadcast,
        );
      } catch (err) {
        await node.manager.stop();
        throw err;
      }
    }
    node.peerService.start();
    logger.debug({ listen: node.spec_.listenAddrs, transport: transport.name }, 'node started');
    return node;
  }

  // ---- identity ----

  /** This node's name (Partisan `node()`). */
  node(): NodeName {
    return this.spec_.name;
  }

  nodeString(): string {
    return this.spec_.name;
  }

  /** How to reach this node (Partisan `node_spec()`). */
  nodeSpec(): NodeSpec {
    return this.spec_;
  }

  /** Nodes with at least one open stream (on `channel`, when given): Partisan `nodes()`. */
  nodes(channel?: string): NodeName[] {
    if (channel !== undefined) this.channel(channel);
    return this.connectionTable.connectedNodes(channel) as NodeName[];
  }

  isConnected(node: string, channel?: string): boolean {
    if (channel !== undefined) this.channel(channel);
    return this.connectionTable.isConnected(node, channel);
  }

  isFullyConnected(node: string): boolean {
    return this.connectionTable.isFullyConnected(node);
  }

  defaultChannel(): string {
    return DEFAULT_CHANNEL;
  }

  channels(): readonly ResolvedChannel[] {
    return this.options.channels;
  }

  // ---- processes ----

  /**
   * Start a process running `fn`. It exits 'normal' when `fn` returns and with the error when
   * `fn` throws. Inside `fn`, `node.self()` is the process's own pid (AsyncLocalStorage).
   */
  spawn(fn: (self: Process) => unknown, options: { name?: string; mailboxCapacity?: number } = {}): Pid {
    this.assertRunning();
    const process = this.processes.create(options.mailboxCapacity);
    if (options.name !== undefined) {
      try {
        this.processes.register(options.name, process);
      } catch (err) {
        process.exit('noproc');
        throw err;
      }
    }
    this.current.run(process, () => {
      // Start on the next microtask so `spawn` returns the pid before the body runs.
      void Promise.resolve()
        .then(() => fn(process))
        .then(
          () => process.exit('normal'),
          (err: unknown) => process.exit(isPartisanError(err, 'ERR_PROCESS_EXITED') ? (process.exitReason ?? 'normal') : errorReason(err)),
        );
    });
    return process.pid;
  }

  /** A process that runs no function: a mailbox with a pid, for callers outside any process. */
  spawnMailbox(options: { name?: string; mailboxCapacity?: number } = {}): Process {
    const process = this.processes.create(options.mailboxCapacity);
    if (options.name !== undefined) this.processes.register(options.name, process);
    return process;
  }

  /** The calling process's pid; outside any process, the node's shell process. */
  self(): Pid {
    return (this.current.getStore() ?? this.shell).pid;
  }

  /** The calling process (or the shell process). */
  currentProcess(): Process {
    return this.current.getStore() ?? this.shell;
  }

  /** Receive in the calling process (or the shell process, outside any). */
  receive<T = unknown>(options?: ReceiveOptions<T>): Promise<T> {
    return this.currentProcess().receive<T>(options);
  }

  /**
   * The wire/storage form of a ref under this node's `remoteRefs` options: padded to 65 bytes
   * when `remoteRefBinaryPadding` is on (Partisan's fixed-width URIs), else the ref itself.
   */
  encodeRef(remote: RemoteRef): string {
    return encodeRef(remote, this.options.remoteRefs);
  }

  /** A ref from its wire/storage form (padded or not); malformed input throws ERR_INVALID_REF. */
  decodeRef(text: string): RemoteRef {
    return toRemoteRef(text);
  }

  makeRef(): Ref {
    return refUri(this.spec_.name, this.nextRef++);
  }

  isPid(x: unknown): x is Pid {
    return isPid(x);
  }

  isReference(x: unknown): x is Ref {
    return isReference(x);
  }

  isLocal(x: RemoteRef | string): boolean {
    return isRemoteRef(x) && parseRef(x).node === this.spec_.name;
  }

  register(name: string, pid: Pid): void {
    this.processes.register(name, this.localProcess(pid));
  }

  unregister(name: string): boolean {
    return this.processes.unregister(name);
  }

  /** The pid registered under `name` here, or undefined. A remote name → ERR_INVALID_REF (as Partisan's badarg). */
  whereis(name: string | RegisteredName): Pid | undefined {
    if (isName(name)) {
      const parts = parseRef(name);
      if (parts.node !== this.spec_.name || parts.kind !== 'name') throw new PartisanError('ERR_INVALID_REF', `${name} is not a local name`);
      return this.processes.whereis(parts.name)?.pid;
    }
    return this.processes.whereis(name)?.pid;
  }

  /** A registered name on `node` as a URI, to send to or monitor. */
  name(name: string, node: string = this.spec_.name): RegisteredName {
    return registeredName(node, name);
  }

  /** Whether `pid` is alive; asks the owning node for a remote pid (rejects ERR_NOT_CONNECTED / ERR_RPC_TIMEOUT). */
  async isProcessAlive(pid: Pid, timeoutMs = 5_000): Promise<boolean> {
    const parts = parseRef(pid);
    if (parts.kind !== 'pid') throw new PartisanError('ERR_INVALID_REF', `${pid} is not a pid`);
    if (parts.node === this.spec_.name) return this.processes.get(parts.id)?.isAlive ?? false;
    return (await this.call(parts.node, 'proc.alive', parts.id, timeoutMs)) === true;
  }

  /** End a process with `reason`, here or on its node (best effort there, as Partisan). */
  exit(pid: Pid, reason: ExitReason = 'killed'): void {
    const parts = parseRef(pid);
    if (parts.kind !== 'pid') throw new PartisanError('ERR_INVALID_REF', `${pid} is not a pid`);
    if (parts.node === this.spec_.name) {
      this.processes.get(parts.id)?.exit(reason);
      return;
    }
    this.call(parts.node, 'proc.exit', { id: parts.id, reason }).catch((err: unknown) => {
      this.logger.debug({ err, pid }, 'remote exit failed');
    });
  }

  // ---- messaging ----

  /** Partisan `send/2`: forward on the default channel. */
  sendMessage(dest: Destination, message: unknown): void | Promise<void> {
    return this.forwardMessage(dest, message);
  }

  /**
   * Send `message` to a process or name, here or on another node. Throws coded errors at once
   * (ERR_UNKNOWN_CHANNEL, ERR_NOT_CONNECTED, ERR_PARTITIONED, ERR_WIRE_FRAME_TOO_LARGE,
   * ERR_QUEUE_FULL). Returns a Promise only when the channel's queue is full and its policy
   * is `block`: await it to respect backpressure (awaiting `undefined` is free).
   */
  forwardMessage(dest: Destination, message: unknown, options: ForwardOptions = {}): void | Promise<void> {
    const channel = options.channel ?? DEFAULT_CHANNEL;
    if (!this.channelsByName.has(channel)) throw new PartisanError('ERR_UNKNOWN_CHANNEL', `unknown channel ${JSON.stringify(channel)}`, { details: { channel } });
    const { node, target } = this.resolveDestination(dest);
    if (node === this.spec_.name) {
      // Local sends bypass the network (as Partisan); an acked one is delivered, so settled.
      const delivered = this.deliverLocal(target, message);
      return options.ack ? (delivered ? Promise.resolve() : Promise.reject(new PartisanError('ERR_NOPROC', `no process ${String(target)} on ${node}`))) : undefined;
    }
    if (options.ack) {
      if (options.causalLabel !== undefined || !this.isConnected(node)) this.assertKnownPeer(node);
      return this.reliable.sendAcked(node, channel, options.partitionKey, target, message, options.causalLabel);
    }
    if (options.causalLabel !== undefined) {
      this.reliable.sendCausal(node, channel, options.partitionKey, target, message, options.causalLabel);
      return;
    }
    const level = this.channelsByName.get(channel)!.compression;
    const waiting =
      level > 0
        ? this.sendCompressed(node, channel, level, target, message, options.partitionKey)
        : this.manager.send(node, channel, [target, message], options.partitionKey);
    this.traffic.sent(node, channel);
    return waiting;
  }

  /** Partisan `cast_message`: `{ $gen_cast: message }` to `name` on `node`. */
  castMessage(node: string, name: string, message: unknown, options: ForwardOptions = {}): void | Promise<void> {
    return this.forwardMessage({ name, node }, { $gen_cast: message }, options);
  }

  /**
   * Epidemic broadcast (Plumtree) of `message` on a broadcast channel: every member's handler
   * gets it, at least once (Partisan `broadcast/2`).
   */
  broadcast(message: unknown, channel: string): void {
    this.broadcastChannel(channel).broadcast(channel, message);
  }

  /** Updates accepted on a broadcast channel (local and remote), in batches. */
  subscribe(channel: string): AsyncIterableIterator<unknown[]> {
    return this.broadcastChannel(channel).subscribe(channel);
  }

  /** The broadcast layer, for exchanges, metrics and per-channel member views. */
  broadcasts(): BroadcastLayer {
    if (!this.broadcastLayer) throw new PartisanError('ERR_NOT_IMPLEMENTED', 'no broadcast channels are configured');
    return this.broadcastLayer;
  }

  private broadcastChannel(channel: string): BroadcastLayer {
    this.channel(channel);
    if (!this.broadcastLayer || !this.broadcastLayer.channels.has(channel)) {
      throw new PartisanError('ERR_UNKNOWN_CHANNEL', `${JSON.stringify(channel)} is not a broadcast channel`, { details: { channel } });
    }
    return this.broadcastLayer;
  }

  // ---- monitors ----

  /** Monitor a process (pid or registered name, local or remote) from the calling process. */
  monitor(target: Pid | RegisteredName): Ref {
    return this.monitors.monitor(this.currentProcess(), target);
  }

  demonitor(monitorRef: Ref, options: { flush?: boolean } = {}): boolean {
    return this.monitors.demonitor(monitorRef, { ...options, watcher: this.currentProcess() });
  }

  monitorNode(node: string, on = true): void {
    this.monitors.monitorNode(this.currentProcess(), node, on);
  }

  /** nodeup / nodedown messages for every node (`nodeType` 'hidden' watches nothing, as Partisan). */
  monitorNodes(on = true, options: { nodeType?: 'visible' | 'hidden' | 'all' } = {}): void {
    if (options.nodeType === 'hidden') return;
    this.monitors.monitorNodes(this.currentProcess(), on);
  }

  monitorTableSizes(): Record<string, number> {
    return this.monitors.tableSizes();
  }

  // ---- peer service ----

  /** Join the cluster `spec` belongs to (asynchronous, as Partisan's join/1). */
  join(spec: NodeSpec): void {
    this.assertRunning();
    const checked = parseNodeSpec(spec);
    if (checked.name === this.spec_.name) throw new PartisanError('ERR_INVALID_OPTION', 'a node cannot join itself', { details: { node: checked.name } });
    this.peerService.join(checked);
  }

  /** Leave the cluster (no argument) or remove `node` from it. */
  leave(node?: string): Promise<void> {
    return this.peerService.leave(node as NodeName | undefined);
  }

  members(): NodeName[] {
    return this.peerService.members();
  }

  member(node: string): boolean {
    return this.peerService.member(node as NodeName);
  }

  membersForOrchestration(): NodeSpec[] {
    return this.peerService.membersForOrchestration();
  }

  updateMembers(specs: NodeSpec[]): void {
    this.peerService.updateMembers(specs.map((s) => parseNodeSpec(s)));
  }

  reserve(tag: string): void {
    this.peerService.reserve(tag);
  }

  getLocalState(): unknown {
    return this.peerService.getLocalState();
  }

  /** Peers a broadcast spans (all other members, or HyParView's active view). */
  broadcastMembers(): NodeName[] {
    return this.peerService.broadcastMembers();
  }

  /** Call `fn(node)` each time `filter` ('_' = any) comes up (on `channel`, when given). Returns an unsubscribe. */
  onUp(filter: NodeFilter, fn: (node: string) => void, options: { channel?: string } = {}): () => void {
    if (options.channel !== undefined) this.channel(options.channel);
    const entry = { filter, channel: options.channel, fn };
    this.upListeners.add(entry);
    return () => this.upListeners.delete(entry);
  }

  onDown(filter: NodeFilter, fn: (node: string) => void, options: { channel?: string } = {}): () => void {
    if (options.channel !== undefined) this.channel(options.channel);
    const entry = { filter, channel: options.channel, fn };
    this.downListeners.add(entry);
    return () => this.downListeners.delete(entry);
  }

  /** Drop all traffic to and from `node` for `ttlMs` (or until resolved). Returns the partition ref. */
  injectPartition(node: string, ttlMs?: number): string {
    return this.manager.injectPartition(node, ttlMs);
  }

  resolvePartition(partitionRef: string): boolean {
    return this.manager.resolvePartition(partitionRef);
  }

  partitions(): Array<{ ref: string; node: string }> {
    return this.manager.partitionList();
  }

  // ---- request/response between nodes (runtime services; RPC builds on it) ----

  /** Register a handler other nodes reach with `call(node, name, body)`. */
  handleCalls(name: string, handler: CallHandler): void {
    this.callHandlers.set(name, handler);
  }

  /** Ask `node`'s handler `name`; rejects ERR_RPC_TIMEOUT, ERR_NOT_CONNECTED, or the remote error. */
  call(node: string, name: string, body: unknown, timeoutMs = 5_000, channel = DEFAULT_CHANNEL): Promise<unknown> {
    const id = this.nextCallId++;
    return new Promise((resolve, reject) => {
      const timer = this.options.clock.setTimeout(() => {
        this.pendingCalls.delete(id);
        reject(new PartisanError('ERR_RPC_TIMEOUT', `${name} on ${node} did not answer within ${timeoutMs} ms`, { details: { node, name } }));
      }, timeoutMs);
      this.pendingCalls.set(id, { node, resolve, reject, timer });
      try {
        this.manager.send(node, channel, [SERVICE.call, { id, name, body }])?.catch((err: unknown) => {
          if (!this.pendingCalls.delete(id)) return;
          timer.cancel();
          reject(err as Error);
        });
      } catch (err) {
        timer.cancel();
        this.pendingCalls.delete(id);
        reject(err);
      }
    });
  }

  // ---- lifecycle ----

  /** Stop: close every connection (flushing), stop the peer service, end every process. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.peerService.stop();
    await this.broadcastLayer?.stop();
    await this.manager.stop();
    await this.decoder?.stop();
    this.reliable.stop();
    await this.compression.close();
    for (const call of this.pendingCalls.values()) {
      call.timer.cancel();
      call.reject(new PartisanError('ERR_NODE_STOPPED', 'node stopped'));
    }
    this.pendingCalls.clear();
    for (const p of [...this.processes.all()]) p.exit('shutdown');
    this.logger.flush?.();
  }

  get isStopped(): boolean {
    return this.stopped;
  }

  /** Every connected peer: direction, incarnation, keepalive RTT, queued messages, negotiated channels. */
  peerConnections(): PeerConnectionInfo[] {
    const out: PeerConnectionInfo[] = [];
    for (const node of this.manager.connectedNodes()) {
      const p = this.manager.peer(node);
      if (!p || p.isClosed) continue;
      out.push({ node, outbound: p.outbound, incarnation: p.identity.incarnation, rttMs: p.rttMs, queued: p.queuedMessages(), channels: p.negotiatedChannels() });
    }
    return out;
  }

  /** Wire and delivery counters (frames, bytes, bad frames, dead letters). */
  stats(): Record<string, number> {
    return { ...this.manager.counters, ...this.reliable.stats(), deadLetters: this.deadLetters, processes: this.processes.size };
  }

  // ---- internals ----

  private assertRunning(): void {
    if (this.stopped) throw new PartisanError('ERR_NODE_STOPPED', `node ${this.spec_.name} is stopped`);
  }

  private channel(name: string): ResolvedChannel {
    const c = this.channelsByName.get(name);
    if (!c) throw new PartisanError('ERR_UNKNOWN_CHANNEL', `unknown channel ${JSON.stringify(name)}`, { details: { channel: name } });
    return c;
  }

  private localProcess(pid: Pid): Process {
    const parts = parseRef(pid);
    if (parts.kind !== 'pid' || parts.node !== this.spec_.name) throw new PartisanError('ERR_INVALID_REF', `${pid} is not a local pid`);
    const p = this.processes.get(parts.id);
    if (!p) throw new PartisanError('ERR_NOPROC', `no process ${pid}`);
    return p;
  }

  private resolveDestination(dest: Destination): { node: string; target: number | string } {
    if (typeof dest === 'object' && dest !== null) {
      if (typeof dest.name !== 'string' || typeof dest.node !== 'string' || dest.name.startsWith('$')) {
        throw new PartisanError('ERR_INVALID_REF', 'destination must be a pid, a name URI or {name, node}');
      }
      return { node: dest.node, target: dest.name };
    }
    const cached = this.destinationCache.get(dest);
    if (cached) return cached;
    if (typeof dest !== 'string') throw new PartisanError('ERR_INVALID_REF', 'destination must be a pid, a name URI or {name, node}');
    const parts = parseRef(dest);
    if (parts.kind === 'ref') throw new PartisanError('ERR_INVALID_REF', `cannot send to a reference: ${dest}`);
    const resolved = { node: parts.node, target: parts.kind === 'pid' ? parts.id : parts.name };
    // Pids repeat a lot on hot paths; parsing each send would cost more than the send.
    if (this.destinationCache.size > 10_000) this.destinationCache.clear();
    this.destinationCache.set(dest, resolved);
    return resolved;
  }

  private deliverLocal(target: number | string, message: unknown): boolean {
    const process = typeof target === 'number' ? this.processes.get(target) : this.processes.whereis(target);
    if (process && process.mailbox.push(message)) return true;
    this.deadLetters++;
    return false;
  }

  /**
   * A channel with `compression`: payloads over the threshold are deflated in the pool. While
   * one is being compressed, later sends to the same peer and channel wait behind it, so the
   * channel's order holds; small payloads with nothing pending go out at once.
   */
  private sendCompressed(node: string, channel: string, level: number, target: number | string, message: unknown, key: PartitionKey | undefined): void | Promise<void> {
    const chainKey = `${node}\u0000${channel}`;
    const pending = this.compressing.get(chainKey);
    const big = this.manager.sizeOf([target, message]) >= this.compression.options.thresholdBytes;
    if (!pending && !big) return this.manager.send(node, channel, [target, message], key);
    const step = (pending ?? Promise.resolve())
      .catch(() => {})
      .then(async () => {
        const envelope: Envelope = big ? [target, await this.compression.compress(message, level), { z: 1 }] : [target, message];
        await this.manager.send(node, channel, envelope, key);
      });
    this.compressing.set(chainKey, step);
    void step.finally(() => {
      if (this.compressing.get(chainKey) === step) this.compressing.delete(chainKey);
    }).catch(() => {});
    return step;
  }

  /** Acked sends to a node we never connected to would retry into the void: fail them at once. */
  private assertKnownPeer(node: string): void {
    if (!this.incarnations.has(node) && !this.member(node)) {
      throw new PartisanError('ERR_NOT_CONNECTED', `${node} is not connected and not a member`, { details: { node } });
    }
  }

  private sendService(node: string, service: string, body: unknown, channel = DEFAULT_CHANNEL): void {
    // Runtime traffic is tiny; under backpressure it waits in the queue like any message.
    this.manager.send(node, channel, [service, body])?.catch(() => {});
  }

  /** A `$call`: run the handler, answer on the channel the call came in on. */
  private onCall(from: string, body: unknown, channel: string): void {
    const { id, name, body: args } = (body ?? {}) as { id: number; name: string; body: unknown };
    if (typeof id !== 'number') return;
    const reply = (payload: Record<string, unknown>): void => {
      try {
        this.sendService(from, SERVICE.reply, { id, ...payload }, channel);
      } catch {
        // The caller is gone; its own timeout or nodedown settles the call.
      }
    };
    const handler = this.callHandlers.get(name);
    if (!handler) {
      reply({ error: { code: 'ERR_RPC_UNKNOWN_FUNCTION', message: `no handler ${JSON.stringify(name)} on ${this.spec_.name}` } });
      return;
    }
    Promise.resolve()
      .then(() => handler(from, args))
      .then(
        (value) => reply({ value }),
        (err: unknown) =>
          reply({
            error: {
              code: isPartisanError(err) ? err.code : 'ERR_RPC_REMOTE_EXCEPTION',
              message: err instanceof Error ? err.message : String(err),
              ...(err instanceof Error && err.stack ? { stack: err.stack } : {}),
              ...(err instanceof Error ? { name: err.name } : {}),
            },
          }),
      );
  }

  private onReply(from: string, body: unknown): void {
    const { id, value, error } = (body ?? {}) as { id: number; value?: unknown; error?: { code: string; message: string; stack?: string; name?: string } };
    const call = this.pendingCalls.get(id);
    if (!call || call.node !== from) return;
    this.pendingCalls.delete(id);
    call.timer.cancel();
    if (error) {
      const code = (error.code in ERROR_CODES_SET ? error.code : 'ERR_RPC_REMOTE_EXCEPTION') as ErrorCode;
      call.reject(new PartisanError(code, `${from}: ${error.message}`, { details: { remoteStack: error.stack, remoteName: error.name, node: from } }));
    } else {
      call.resolve(value);
    }
  }

  private deliverEnvelopes(from: string, lane: Lane, envelopes: Envelope[]): void {
    const backlog = this.inflating.get(lane);
    if (backlog) {
      // A compressed message is being inflated on this lane: everything after it waits its turn.
      backlog.push(envelopes);
      return;
    }
    const stop = this.deliverUntilCompressed(from, lane, envelopes, 0);
    if (stop < 0) return;
    const queue = [envelopes.slice(stop)];
    this.inflating.set(lane, queue);
    void this.drainInflating(from, lane, queue);
  }

  /** Deliver from `start` on; returns the index of the first compressed envelope, or -1. */
  private deliverUntilCompressed(from: string, lane: Lane, envelopes: Envelope[], start: number): number {
    for (let i = start; i < envelopes.length; i++) {
      const e = envelopes[i]!;
      if (e.length === 3) {
        if (e[2].z !== undefined) return i;
        if (this.reliable.receive(from, e)) continue;
      }
      const target = e[0];
      if (typeof target === 'number') {
        const p = this.processes.get(target);
        if (!p || !p.mailbox.push(e[1])) this.deadLetters++;
      } else if (target.charCodeAt(0) === 36 /* $ */) {
        const service = this.services.get(target);
        if (service) {
          try {
            service(from, e[1], lane.channel.name);
          } catch (err) {
            this.logger.warn({ err, from, service: target }, 'runtime service failed on a message');
          }
        } else {
          this.deadLetters++;
        }
      } else {
        this.deliverLocal(target, e[1]);
      }
    }
    return -1;
  }

  /** Inflate compressed envelopes off the event loop, delivering everything of the lane in order. */
  private async drainInflating(from: string, lane: Lane, queue: Envelope[][]): Promise<void> {
    try {
      while (queue.length > 0) {
        const batch = queue.shift()!;
        let i = 0;
        while (i >= 0 && i < batch.length) {
          const e = batch[i]!;
          if (e.length === 3 && e[2].z !== undefined) {
            try {
              this.deliverUntilCompressed(from, lane, [await this.inflate(from, e)], 0);
            } catch (err) {
              this.logger.warn({ err, channel: lane.channel.name, peer: from }, 'dropping an undecodable compressed message');
            }
            i++;
          } else {
            i = this.deliverUntilCompressed(from, lane, batch, i);
          }
        }
      }
    } finally {
      this.inflating.delete(lane);
    }
  }

  private async inflate(from: string, e: Envelope): Promise<Envelope> {
    const payload = e[1];
    if (!(payload instanceof Uint8Array)) throw new PartisanError('ERR_WIRE_MALFORMED_FRAME', `compressed message from ${from} without bytes`);
    const message = await this.compression.decompress(payload);
    const meta = { ...e[2] };
    delete meta.z;
    return Object.keys(meta).length > 0 ? [e[0], message, meta] : [e[0], message];
  }

  private readonly connectionEvents: ConnectionEvents = {
    up: (peer: PeerIdentity) => {
      let spec: NodeSpec | undefined;
      try {
        spec = parseNodeSpec(peer.spec);
        this.peerSpecs.set(peer.node, spec);
      } catch {
        spec = undefined;
      }
      this.logger.debug({ peer: peer.node }, 'connection up');
      publishConnectionUp({ node: this.spec_.name, peer: peer.node, incarnation: peer.incarnation, channels: peer.channels });
      this.incarnations.set(peer.node, peer.incarnation);
      this.reliable.connectionUp(peer.node);
      this.peerService.connectionUp(peer.node as NodeName, spec, peer.state, peer.incarnation);
      this.monitors.nodeUp(peer.node);
      this.notify(this.upListeners, peer.node, undefined);
    },
    down: (node, incarnation, error) => {
      this.logger.debug({ peer: node, err: error?.message }, 'connection down');
      publishConnectionDown({
        node: this.spec_.name,
        peer: node,
        code: error && isPartisanError(error) ? error.code : undefined,
        message: error?.message,
      });
      for (const [id, call] of this.pendingCalls) {
        if (call.node !== node) continue;
        this.pendingCalls.delete(id);
        call.timer.cancel();
        call.reject(new PartisanError('ERR_NOT_CONNECTED', `lost the connection to ${node} (noconnection)`, { details: { node } }));
      }
      this.monitors.nodeDown(node);
      this.reliable.connectionDown(node);
      this.peerService.connectionDown(node as NodeName, incarnation);
      this.notify(this.downListeners, node, undefined);
    },
    channelUp: (node, channel) => this.notify(this.upListeners, node, channel),
    channelDown: (node, channel) => this.notify(this.downListeners, node, channel),
    messages: (from, lane, envelopes) => {
      this.traffic.received(from, lane.channel.name, envelopes.length);
      this.deliverEnvelopes(from, lane, envelopes);
    },
    raw: (from, lane, frames, bytes) => {
      const channel = lane.channel.name;
      if (this.decoder && this.offThreadChannels.has(channel)) {
        this.decoder.push(from, lane, frames, bytes);
        return;
      }
      this.traffic.receivedRaw(from, channel, frames.length, bytes);
      if (this.broadcastLayer && this.broadcastChannels.has(channel)) this.broadcastLayer.raw(from, channel, frames, bytes, (n) => lane.consumedBytes(n));
      else lane.consumedBytes(bytes);
    },
    acks: (from, ids) => this.reliable.acks(from, ids),
    control: () => {},
    problem: (node, error, dropped) => {
      const kind = classifyProblem(error.code);
      const peer = node ?? (typeof error.details.expectedNode === 'string' ? error.details.expectedNode : undefined);
      if (kind === 'handshakeRefused') {
        const by = error.details.peerCode !== undefined ? 'peer' : 'local';
        // A peer refusing our credentials deserves a line at the default level (our own refusals the authenticator logs).
        if (by === 'peer' && error.code.startsWith('ERR_AUTH_')) this.logger.warn({ peer, code: error.code }, `refused by ${peer ?? 'peer'}: ${error.message}`);
        publishHandshakeRefused({ node: this.spec_.name, peer, code: error.code, message: error.message, by });
      } else if (kind === 'frameError') {
        publishFrameError({ node: this.spec_.name, peer, code: error.code, message: error.message });
      }
      this.logger.debug({ peer, code: error.code, dropped, err: error.message }, 'connection problem');
    },
  };

  private decoderEvents(): OffThreadDecoderEvents {
    return {
      messages: (from, lane, envelopes) => {
        if (this.stopped) return;
        this.traffic.received(from, lane.channel.name, envelopes.length);
        this.deliverEnvelopes(from, lane, envelopes);
      },
      acks: (from, ids) => this.reliable.acks(from, ids),
      malformed: (from, lane, error) => {
        this.manager.counters.malformedFrames++;
        publishFrameError({ node: this.spec_.name, peer: from, code: error.code, message: error.message });
        this.logger.debug({ peer: from, channel: lane.channel.name, code: error.code, err: error.message }, 'malformed frame (decode worker)');
        lane.abort(error);
      },
      lost: (batches, error) => {
        this.logger.warn({ batches, err: error.message }, 'decode worker died; its batches were lost and it restarts on the next one');
      },
    };
  }

  private notify(listeners: Set<{ filter: NodeFilter; channel: string | undefined; fn: (node: string) => void }>, node: string, channel: string | undefined): void {
    for (const l of listeners) {
      if (l.channel !== channel) continue;
      if (l.filter !== '_' && l.filter !== node) continue;
      try {
        l.fn(node);
      } catch (err) {
        this.logger.warn({ err, node }, 'onUp/onDown callback threw');
      }
    }
  }

  private newQueue(channel: ResolvedChannel): LaneQueue {
    return this.queues.create<Envelope>(channel);
  }

  private createPeerService(): PeerService {
    const host: PeerServiceHost = {
      name: this.spec_.name,
      spec: () => this.spec_,
      clock: this.options.clock,
      random: this.options.random,
      maintain: (specs) => this.manager.maintain(specs.map((s) => ({ name: s.name, listenAddrs: [...s.listenAddrs] }))),
      disconnect: (node) => this.manager.disconnect(node),
      isConnected: (node) => this.manager.isConnected(node),
      send: (node, body) => this.sendService(node, SERVICE.membership, body),
      flush: async (node) => {
        await this.manager.peer(node)?.drain();
      },
      membersChanged: () => this.broadcastLayer?.setMembers(this.peerService.broadcastMembers()),
    };
    switch (this.options.peerService) {
      case 'static':
        return new StaticPeerService(host);
      case 'fullMesh':
        return new FullMeshPeerService(host, this.incarnation, this.options.membership);
      case 'clientServer':
        return new FullMeshPeerService(host, this.incarnation, this.options.membership, true);
      case 'hyparview':
        return new HyParViewPeerService(host, this.incarnation, this.options.membership);
      default:
        throw new PartisanError('ERR_NOT_IMPLEMENTED', `peer service ${this.options.peerService} is not available yet`);
    }
  }
}

const ERROR_CODES_SET: Record<string, true> = Object.create(null) as Record<string, true>;
for (const code of [
  'ERR_RPC_UNKNOWN_FUNCTION',
  'ERR_RPC_REMOTE_EXCEPTION',
  'ERR_RPC_TIMEOUT',
  'ERR_NOT_CONNECTED',
  'ERR_NOPROC',
  'ERR_INVALID_REF',
  'ERR_INVALID_OPTION',
]) {
  ERROR_CODES_SET[code] = true;
}

export type { MonitorMessage, ExitReason };
export { describeReason };

/** Start a node. See NodeOptions for every option and its default. */
export function startNode(options: NodeOptions = {}): Promise<Node> {
  return Node.start(options);
}

export type { HostPort };
