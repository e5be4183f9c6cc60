import { PartisanError } from '../util/errors.js';
import type { BroadcastLayer, BroadcastLayerHost } from './layer.js';

/** Start the broadcast layer for the configured channels. (Implementation lands with the worker driver.) */
export async function startBroadcastLayer(_host: BroadcastLayerHost, _config: Record<string, unknown>): Promise<BroadcastLayer> {
  throw new PartisanError('ERR_NOT_IMPLEMENTED', 'broadcast channels are not available in this build yet');
}
