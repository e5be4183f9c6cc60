import type { Node } from '../node/node.js';
import { InvalidOptionError, PartisanError, isPartisanError } from '../util/errors.js';
import { MAX_TIMER_MS, resolveCallOptions, type CallOptions, type ResolvedCallOptions } from './call-options.js';
import { isNoConnection, sendOrDrop } from './no-connection.js';

/**
 * erpc-style remote calls (partisan_erpc / partisan_rpc, §1.5) over the node's correlated
 * request/response (`node.call` / `node.handleCalls`):
 *
 *     request   ['$call',  { id, name: 'rpc.call', body: { fn, args } }]
 *     response  ['$reply', { id, value: { ok: true, value } | { ok: false, error } }]
 *     cast      { $gen_cast: { fn, args } } to the registered process `partisan.rpc`
 *
 * Only functions registered by name can be called: a remote node never names code to run.
 */

/** A function other nodes may call. Arguments and result cross the wire (msgpack). */
export type RpcFunction<A extends unknown[] = never[], R = unknown> = (...args: A) => R | Promise<R>;

/** One node's answer in a multicall: Erlang's {Results, BadNodes}, one entry per node. */
export type MulticallResult<R = unknown> = { node: string; ok: true; value: R } | { node: string; ok: false; error: PartisanError };

export type RpcOptions = CallOptions;

export type RpcOutcome<R> = { ok: true; value: R } | { ok: false; error: PartisanError };

/** A request sent with `sendRequest`, answered through `receiveResponse` / `checkResponse`. */
export class RpcRequest<R = unknown> {
  /** Settles once; never rejects, so an uncollected failure is no unhandled rejection. */
  readonly settled: Promise<RpcOutcome<R>>;
  private result: RpcOutcome<R> | undefined;

  constructor(
    readonly node: string,
    readonly fn: string,
    call: Promise<R>,
  ) {
    this.settled = call.then(
      (value) => (this.result = { ok: true, value }),
      (error: unknown) => (this.result = { ok: false, error: asPartisanError(error) }),
    );
  }

  /** The answer (or the error) once it is in. */
  get outcome(): RpcOutcome<R> | undefined {
    return this.result;
  }
}

export type RpcCheck<R> = { done: false } | { done: true; ok: true; value: R } | { done: true; ok: false; error: PartisanError };

interface WireRequest {
  fn: string;
  args: unknown[];
}

interface WireError {
  kind: 'exception' | 'unknown';
  message: string;
  name?: string;
  stack?: string;
  code?: string;
}

type WireResponse = { ok: true; value: unknown } | { ok: false; error: WireError };

/** `node.handleCalls` name the RPC server answers. */
export const RPC_CALL_HANDLER = 'rpc.call';
/** Registered process receiving casts (user names cannot start with `$`). */
export const RPC_CAST_PROCESS = 'partisan.rpc';
const MAX_NAME_LENGTH = 255;

/** The functions a node exposes: one per node, shared by every `Rpc` made for it. */
class RpcRegistry {
  private readonly functions = new Map<string, RpcFunction<unknown[]>>();
  private readonly modules = new Map<string, string[]>();

  constructor(private readonly node: Node) {
    this.startCastProcess();
    node.handleCalls(RPC_CALL_HANDLER, (_from, body) => this.apply(body));
  }

  register(name: string, fn: RpcFunction<unknown[]>): void {
    checkName('name', name);
    if (typeof fn !== 'function') throw new InvalidOptionError('fn', fn, 'expected a function');
    const existing = this.functions.get(name);
    if (existing && existing !== fn) throw new PartisanError('ERR_NAME_TAKEN', `an RPC function is already registered as ${JSON.stringify(name)}`, { details: { name } });
    this.functions.set(name, fn);
  }

  registerModule(prefix: string, module: object): string[] {
    checkName('prefix', prefix);
    if (this.modules.has(prefix)) throw new PartisanError('ERR_NAME_TAKEN', `an RPC module is already registered as ${JSON.stringify(prefix)}`, { details: { prefix } });
    const names: string[] = [];
    for (const [key, value] of Object.entries(module)) {
      if (typeof value !== 'function') continue;
      const name = `${prefix}.${key}`;
      this.register(name, (value as RpcFunction<unknown[]>).bind(module));
      names.push(name);
    }
    this.modules.set(prefix, names);
    return names;
  }

  unregister(name: string): boolean {
    return this.functions.delete(name);
  }

  unregisterModule(prefix: string): number {
    const names = this.modules.get(prefix);
    if (!names) return 0;
    this.modules.delete(prefix);
    let n = 0;
    for (const name of names) if (this.functions.delete(name)) n++;
    return n;
  }

  names(): string[] {
    return [...this.functions.keys()];
  }

  /** Run a request; never rejects, so every outcome is a response the caller can decode. */
  async apply(body: unknown): Promise<WireResponse> {
    const req = body as Partial<WireRequest> | undefined;
    if (typeof req?.fn !== 'string' || !Array.isArray(req.args)) {
      return { ok: false, error: { kind: 'exception', message: 'malformed RPC request', name: 'TypeError' } };
    }
    const fn = this.functions.get(req.fn);
    if (!fn) return { ok: false, error: { kind: 'unknown', message: `no RPC function ${JSON.stringify(req.fn)} on ${this.node.node()}` } };
    try {
      return { ok: true, value: await fn(...req.args) };
    } catch (err) {
      return { ok: false, error: exceptionOf(err) };
    }
  }

  private startCastProcess(): void {
    this.node.spawn(
      async (self) => {
        for await (const message of self) {
          const body = (message as { $gen_cast?: unknown } | undefined)?.$gen_cast;
          // Casts run concurrently, as erpc:cast spawns one process each; outcomes are dropped.
          void this.apply(body).then((r) => {
            if (!r.ok) this.node.logger.debug({ err: r.error }, 'rpc cast failed');
          });
        }
      },
      { name: RPC_CAST_PROCESS },
    );
  }
}

const registries = new WeakMap<Node, RpcRegistry>();

function registryFor(node: Node): RpcRegistry {
  let registry = registries.get(node);
  if (!registry) {
    registry = new RpcRegistry(node);
    registries.set(node, registry);
  }
  return registry;
}

/**
 * RPC bound to one node: the functions it exposes and calls to other nodes. Make it with
 * `createRpc(node, defaults)`; several instances on one node share the registered functions.
 */
export class Rpc {
  readonly node: Node;
  /** Defaults for every call; per-call options win. */
  readonly defaults: ResolvedCallOptions;
  private readonly registry: RpcRegistry;

  constructor(node: Node, defaults: RpcOptions = {}) {
    this.node = node;
    this.defaults = resolveCallOptions(defaults, undefined, 'rpc');
    this.registry = registryFor(node);
  }

  /** Expose `fn` to other nodes as `name`. A different function under the same name → ERR_NAME_TAKEN. */
  register<A extends unknown[]>(name: string, fn: RpcFunction<A>): void {
    this.registry.register(name, fn as unknown as RpcFunction<unknown[]>);
  }

  /** Expose every function-valued own property of `module` as `<prefix>.<key>` (Erlang's M:F). Returns the names. */
  registerModule(prefix: string, module: object): string[] {
    return this.registry.registerModule(prefix, module);
  }

  unregister(name: string): boolean {
    return this.registry.unregister(name);
  }

  /** Remove the functions `registerModule(prefix, …)` exposed. Returns how many. */
  unregisterModule(prefix: string): number {
    return this.registry.unregisterModule(prefix);
  }

  /** Names callable on this node. */
  registered(): string[] {
    return this.registry.names();
  }

  /**
   * Call `fn` on `node` with `args` (erpc:call). Rejects with ERR_RPC_TIMEOUT,
   * ERR_NOT_CONNECTED (no connection, or lost before the reply), ERR_RPC_REMOTE_EXCEPTION
   * (details: remoteMessage, remoteName, remoteStack, remoteCode) or ERR_RPC_UNKNOWN_FUNCTION.
   */
  async call<R = unknown>(node: string, fn: string, args: readonly unknown[] = [], options?: RpcOptions): Promise<R> {
    const { timeout, channel } = resolveCallOptions(options, this.defaults);
    checkName('fn', fn);
    const body: WireRequest = { fn, args: checkArgs(args) };
    let response: unknown;
    if (node === this.node.node()) {
      response = await this.applyLocal(body, timeout);
    } else {
      try {
        response = await this.node.call(node, RPC_CALL_HANDLER, body, Math.min(timeout, MAX_TIMER_MS), channel);
      } catch (err) {
        throw callError(err, node, fn, timeout);
      }
    }
    return decode<R>(response, node, fn);
  }

  /**
   * Run `fn` on `node` and forget it (erpc:cast): no reply; an unreachable node drops it
   * silently (Partisan's cast_fast). Await the result only to respect backpressure.
   */
  cast(node: string, fn: string, args: readonly unknown[] = [], options: Pick<RpcOptions, 'channel'> = {}): void | Promise<void> {
    const { channel } = resolveCallOptions(options, this.defaults);
    checkName('fn', fn);
    const body: WireRequest = { fn, args: checkArgs(args) };
    if (node === this.node.node()) {
      void this.registry.apply(body);
      return;
    }
    return sendOrDrop(() => this.node.castMessage(node, RPC_CAST_PROCESS, body, { channel }));
  }

  /** Call `fn` on every node at once; one result per node, in `nodes` order (erpc:multicall). */
  multicall<R = unknown>(nodes: readonly string[], fn: string, args: readonly unknown[] = [], options?: RpcOptions): Promise<MulticallResult<R>[]> {
    return Promise.all(
      nodes.map((node) =>
        this.call<R>(node, fn, args, options).then(
          (value): MulticallResult<R> => ({ node, ok: true, value }),
          (error: unknown): MulticallResult<R> => ({ node, ok: false, error: asPartisanError(error) }),
        ),
      ),
    );
  }

  /** Cast `fn` to every node (erpc:multicast). */
  multicast(nodes: readonly string[], fn: string, args: readonly unknown[] = [], options: Pick<RpcOptions, 'channel'> = {}): void {
    for (const node of nodes) void this.cast(node, fn, args, options);
  }

  /** Start a call now and collect its answer later (erpc:send_request); the timeout runs from now. */
  sendRequest<R = unknown>(node: string, fn: string, args: readonly unknown[] = [], options?: RpcOptions): RpcRequest<R> {
    return new RpcRequest(node, fn, this.call<R>(node, fn, args, options));
  }

  /** The answer of `request`: its value, or the coded error `call` would have thrown (erpc:receive_response). */
  async receiveResponse<R>(request: RpcRequest<R>): Promise<R> {
    const r = await request.settled;
    if (r.ok) return r.value;
    throw r.error;
  }

  /** The answer if it is in, without waiting (erpc:check_response). */
  checkResponse<R>(request: RpcRequest<R>): RpcCheck<R> {
    return request.outcome ? { done: true, ...request.outcome } : { done: false };
  }

  private applyLocal(body: WireRequest, timeout: number): Promise<WireResponse> {
    const run = this.registry.apply(body);
    if (timeout === Infinity) return run;
    return new Promise((resolve, reject) => {
      const timer = this.node.options.clock.setTimeout(() => reject(timeoutError(this.node.node(), body.fn, timeout)), timeout);
      void run.then((r) => {
        timer.cancel();
        resolve(r);
      });
    });
  }
}

/** RPC for `node`, with `defaults` for its calls (timeout 5000 ms, channel 'default'). */
export function createRpc(node: Node, defaults: RpcOptions = {}): Rpc {
  return new Rpc(node, defaults);
}

function checkName(field: string, name: unknown): asserts name is string {
  if (typeof name !== 'string' || name.length === 0 || name.length > MAX_NAME_LENGTH) {
    throw new InvalidOptionError(field, name, `expected a name of 1-${MAX_NAME_LENGTH} characters`);
  }
}

function checkArgs(args: readonly unknown[]): unknown[] {
  if (!Array.isArray(args)) throw new InvalidOptionError('args', args, 'expected an array of arguments');
  return args as unknown[];
}

function exceptionOf(err: unknown): WireError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return {
      kind: 'exception',
      message: err.message,
      name: err.name,
      ...(err.stack ? { stack: err.stack } : {}),
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { kind: 'exception', message: String(err) };
}

function decode<R>(response: unknown, node: string, fn: string): R {
  const r = response as WireResponse | undefined;
  if (r?.ok === true) return r.value as R;
  const e = r?.ok === false ? r.error : { kind: 'exception' as const, message: 'malformed RPC response' };
  if (e.kind === 'unknown') throw new PartisanError('ERR_RPC_UNKNOWN_FUNCTION', `${node}: ${e.message}`, { details: { node, fn } });
  throw new PartisanError('ERR_RPC_REMOTE_EXCEPTION', `${node}: rpc ${fn} threw ${e.name ?? 'Error'}: ${e.message}`, {
    details: { node, fn, remoteMessage: e.message, remoteName: e.name, remoteStack: e.stack, remoteCode: e.code },
  });
}

function timeoutError(node: string, fn: string, timeout: number): PartisanError {
  return new PartisanError('ERR_RPC_TIMEOUT', `rpc ${fn} on ${node} did not answer within ${timeout} ms`, { details: { node, fn, timeout } });
}

/** Transport-level failures of `node.call`, said in RPC terms. */
function callError(err: unknown, node: string, fn: string, timeout: number): unknown {
  if (isPartisanError(err, 'ERR_RPC_TIMEOUT')) return timeoutError(node, fn, timeout);
  if (isNoConnection(err)) {
    return new PartisanError('ERR_NOT_CONNECTED', `rpc ${fn}: no connection to ${node} (noconnection)`, { cause: err, details: { node, fn } });
  }
  // The node answers this itself when nothing there ever called createRpc.
  if (isPartisanError(err, 'ERR_RPC_UNKNOWN_FUNCTION')) {
    return new PartisanError('ERR_RPC_UNKNOWN_FUNCTION', `${node}: no RPC function ${JSON.stringify(fn)} (RPC is not started there)`, { cause: err, details: { node, fn } });
  }
  return err;
}

function asPartisanError(err: unknown): PartisanError {
  if (err instanceof PartisanError) return err;
  return new PartisanError('ERR_RPC_REMOTE_EXCEPTION', err instanceof Error ? err.message : String(err), { cause: err });
}
