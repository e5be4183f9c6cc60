/** Every scenario of `npm run bench`, and the standard set of `npm run bench:all`. */
import type { Scenario } from '../lib/scenario.js';
import { erlang } from './erlang.js';
import { fanout } from './fanout.js';
import { fleet } from './fleet.js';
import { hol } from './hol.js';
import { nats } from './nats.js';
import { p2p } from './p2p.js';
import { rpc } from './rpc.js';

export const SCENARIOS: Record<string, Scenario> = {
  p2p,
  hol,
  fanout,
  rpc,
  fleet,
  nats,
  erlang,
};

export const STANDARD_SET: string[] = ['p2p', 'hol', 'fanout', 'fleet', 'rpc', 'nats', 'erlang'];
