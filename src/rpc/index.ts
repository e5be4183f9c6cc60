export { Rpc, createRpc, RPC_CALL_HANDLER, RPC_CAST_PROCESS, type MulticallResult, type RpcCheck, type RpcFunction, type RpcOptions, RpcRequest, type RpcOutcome } from './rpc.js';
export { DEFAULT_CALL_TIMEOUT_MS, resolveCallOptions, type CallOptions, type ResolvedCallOptions } from './call-options.js';
