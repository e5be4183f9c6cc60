/**
 * Membership: the peer service managers' pure state machines (DESIGN.md, "membership").
 * Nothing here touches sockets, timers, the clock or global randomness; drivers do.
 */
export { type NodeName, type NodeSpec, type ListenAddr, nodeName, isNodeName, specsEqual, parseNodeSpec } from './types.js';

export { type Actor, type Dot, type ContextEntry, CausalContext, compareDots, sameDot } from './causal-context.js';
export { type DotValue, type ValueCodec, type EncodedMVRegister, MVRegister, identityCodec } from './mvregister.js';
export { type EncodedAWMap, AWMap, digestOf } from './awmap.js';

export { type FullMeshOptions, type FullMeshAction, type EncodedMembership, FullMeshMembership } from './full-mesh.js';

export { type HyParViewOptions, type HyParViewConfig, resolveHyParViewOptions } from './hyparview-options.js';
export {
  type HyParViewMessage,
  type HyParViewMessageType,
  type HyParViewAction,
  type ActiveRemovedReason,
  type MessageHeader,
  parseHyParViewMessage,
} from './hyparview-messages.js';
export { type HyParViewInit, HyParView } from './hyparview.js';
export { type HyParViewSimOptions, type SimEvent, type SimStats, HyParViewSim } from './hyparview-sim.js';
