/**
 * partisan-ts: the public API. Everything a user imports comes from here; `partisan-ts/internal`
 * re-exports building blocks for tests, benchmarks and experiments.
 */

// Nodes and the Partisan-style API
export { startNode, Node, type Destination, type ForwardOptions, type NodeFilter, type CallHandler } from './node/node.js';
export type { NodeOptions, TransportKind, PeerServiceKind } from './node/node-options.js';
export type { ReliableDeliveryOptions } from './node/reliable-delivery.js';

// Vocabulary: node specs, channels, references
export type { NodeName, NodeSpec, ListenAddr } from './membership/types.js';
export type { HostPort } from './transport/transport.js';
export { DEFAULT_CHANNEL, type ChannelOptions, type OverflowPolicy, type ResolvedChannel } from './channels/channel-options.js';
export type { PartitionKey } from './channels/stream-selector.js';
export type { CompressionOptions } from './channels/compression.js';
export {
  pid,
  ref,
  registeredName,
  parseRef,
  formatRef,
  isPid,
  isReference,
  isName,
  isRemoteRef,
  type Pid,
  type Ref,
  type RegisteredName,
  type RemoteRef,
  type RemoteRefParts,
  type RemoteRefOptions,
} from './process/ref.js';

// Processes and monitors
export type { Process, ExitReason } from './process/process.js';
export type { ReceiveOptions, Matcher } from './process/mailbox.js';
export type { MonitorMessage, DownMessage, NodeUpMessage, NodeDownMessage } from './monitor/monitor-service.js';

// RPC and behaviours
export * from './rpc/index.js';
export * from './gen/index.js';

// Broadcast
export type { BroadcastHandler, SyncBroadcastHandler, BroadcastData, GraftResult, ExchangeStart, ExchangeRole } from './broadcast/handler.js';
export type { BroadcastChannelConfig, BroadcastHandlerSpec, HandlerModuleSpec } from './broadcast/channel-config.js';
export { latestPosition, LatestPositionHandler, type PositionRecord, type LatestPositionOptions } from './broadcast/latest-position.js';
export type { BroadcastLayer } from './broadcast/layer.js';

// Security
export { createDevCa, issueNodeCertificate, verifyNodeCertificate } from './security/certificates.js';
export { NodeKey, generateNodeKey, loadOrCreateNodeKey } from './security/node-key.js';
export type { Authenticator, PeerIdentity } from './connections/handshake.js';
export type { SecurityOptions } from './security/node-security.js';
export { writeCertificates, type WriteCertificatesOptions, type WrittenCertificates } from './security/cert-files.js';

// Transports (custom transports and in-process testing)
export type { Transport, TransportConnection, TransportStream, TransportListener, DialOptions, CloseInfo } from './transport/transport.js';
export { MemoryNetwork, type LinkFaults, type MemoryNetworkOptions } from './transport/memory/memory-transport.js';

// Errors and observability
export { PartisanError, InvalidOptionError, ErrorCodes, isPartisanError, type ErrorCode } from './util/errors.js';
export { DiagnosticsChannelNames, type DiagnosticsChannelName } from './observability/channels.js';
export { createNodeMetrics, NodeMetrics, type NodeMetricsOptions } from './observability/metrics.js';
