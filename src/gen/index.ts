export { GenServer, startGenServer, type GenServerBehaviour, type CallResult, type NoReplyResult } from './gen-server.js';
export {
  GenStatem,
  startGenStatem,
  type GenStatemBehaviour,
  type HandleEventBehaviour,
  type StateFunctionsBehaviour,
  type StateFunction,
  type StatemAction,
  type StatemEvent,
  type StatemInit,
  type StatemResult,
  type StatemTransition,
} from './gen-statem.js';
export { call, cast, getState, reply, stop, serverTarget, type GenCallOptions, type GenStopOptions, type ServerRef } from './client.js';
export type { GenContext, GenStartOptions } from './server-process.js';
export type { From, SystemRequest } from './messages.js';
