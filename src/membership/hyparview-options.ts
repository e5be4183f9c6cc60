/**
 * HyParView configuration. Defaults are Partisan's (reference §2, §3.8), which are the paper's
 * for a few hundred to a few thousand nodes (Leitão, Pereira & Rodrigues, DSN 2007, §5).
 */
import { InvalidOptionError } from '../util/errors.js';
import { intOption, objectOption, rejectUnknownKeys } from '../util/options.js';

export interface HyParViewOptions {
  /** Largest active view (peers with a live link; Plumtree's neighbours). Default 6. */
  activeMaxSize?: number;
  /** Below this the promotion tick asks passive peers to become active. Default 3. */
  activeMinSize?: number;
  /** Largest passive view (known peers kept as replacements). Default 30. */
  passiveMaxSize?: number;
  /** Active random walk length: TTL of forward_join and shuffle walks. Default 6. */
  arwl?: number;
  /** Passive random walk length: forward_join adds the joiner to the passive view at this TTL. Default 3. */
  prwl?: number;
  /** How often the driver calls `onShuffleTick()`, ms. Default 10 000. */
  shuffleInterval?: number;
  /** Active peers in a shuffle exchange. Default 3. */
  shuffleKActive?: number;
  /** Passive peers in a shuffle exchange. Default 4. */
  shuffleKPassive?: number;
  /** How often the driver calls `onPromotionTick()`, ms. Default 5 000. */
  randomPromotionInterval?: number;
}

export type HyParViewConfig = Readonly<Required<HyParViewOptions>>;

const KEYS = [
  'activeMaxSize',
  'activeMinSize',
  'passiveMaxSize',
  'arwl',
  'prwl',
  'shuffleInterval',
  'shuffleKActive',
  'shuffleKPassive',
  'randomPromotionInterval',
] as const;

/** Fills defaults and validates; throws ERR_INVALID_OPTION naming the field. */
export function resolveHyParViewOptions(options: HyParViewOptions = {}): HyParViewConfig {
  const o = objectOption('hyparview', options);
  rejectUnknownKeys('hyparview', o, KEYS);
  const activeMaxSize = intOption('hyparview.activeMaxSize', o.activeMaxSize, 6, 1, 1_000);
  const activeMinSize = intOption('hyparview.activeMinSize', o.activeMinSize, Math.min(3, activeMaxSize), 0, 1_000);
  if (activeMinSize > activeMaxSize) {
    throw new InvalidOptionError('hyparview.activeMinSize', activeMinSize, `expected at most activeMaxSize (${activeMaxSize})`);
  }
  const arwl = intOption('hyparview.arwl', o.arwl, 6, 0, 100);
  const prwl = intOption('hyparview.prwl', o.prwl, Math.min(3, arwl), 0, 100);
  if (prwl > arwl) throw new InvalidOptionError('hyparview.prwl', prwl, `expected at most arwl (${arwl})`);
  return Object.freeze({
    activeMaxSize,
    activeMinSize,
    passiveMaxSize: intOption('hyparview.passiveMaxSize', o.passiveMaxSize, 30, 0, 100_000),
    arwl,
    prwl,
    shuffleInterval: intOption('hyparview.shuffleInterval', o.shuffleInterval, 10_000, 1),
    shuffleKActive: intOption('hyparview.shuffleKActive', o.shuffleKActive, 3, 0, 1_000),
    shuffleKPassive: intOption('hyparview.shuffleKPassive', o.shuffleKPassive, 4, 0, 1_000),
    randomPromotionInterval: intOption('hyparview.randomPromotionInterval', o.randomPromotionInterval, 5_000, 1),
  });
}
