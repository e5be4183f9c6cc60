/**
 * A simulated vehicle fleet for the demo: vans and taxis driving a city street grid (turning
 * at intersections, never making U-turns, staying inside the city), buses on fixed loops
 * through the centre, and trucks on the ring road. Each vehicle reports a GPS fix every
 * `intervalMs` at its own phase, so reports spread evenly over time as real devices do.
 * Deterministic from a seed: positions depend only on the seed and the report times.
 */
import { seededRandom, type Random } from '../util/random.js';

/** One GPS report, the `latestPosition` record shape plus what the demo measures with. */
export interface GpsFix {
  vehicleId: string;
  /** Wall-clock time of the fix, ms (fractional), also used for latency. Increases per vehicle. */
  ts: number;
  lat: number;
  lon: number;
  /** m/s. */
  speed: number;
  /** Degrees clockwise from north. */
  heading: number;
  /** The gateway node that ingested it. */
  gw: string;
}

export interface FleetOptions {
  /** Vehicles. Default 2000. */
  vehicles?: number;
  /** Report period per vehicle, ms. Default 1000. */
  intervalMs?: number;
  /** Seed of the simulation. Default 1. */
  seed?: number;
  /** City centre. Default Paris (48.8566, 2.3522). */
  centre?: { lat: number; lon: number };
}

type Kind = 'van' | 'taxi' | 'bus' | 'truck';

interface Vehicle {
  id: string;
  kind: Kind;
  /** Position in metres east / north of the centre. */
  x: number;
  y: number;
  /** Grid direction 0 = north, 1 = east, 2 = south, 3 = west (vans, taxis, buses). */
  dir: number;
  speed: number;
  cruise: number;
  /** Ring road: angle (rad) and direction (+1 / -1). */
  angle: number;
  spin: number;
  /** Bus loop: waypoints and the next one. */
  loop: Array<[number, number]> | undefined;
  next: number;
  lastMove: number;
  due: number;
}

const BLOCK_M = 150;
const CITY_RADIUS_M = 4000;
const RING_RADIUS_M = 5200;
const M_PER_DEG_LAT = 111_320;
const DX = [0, 1, 0, -1];
const DY = [1, 0, -1, 0];

export class Fleet {
  readonly intervalMs: number;
  private readonly vehicles: Vehicle[] = [];
  private readonly random: Random;
  private readonly centre: { lat: number; lon: number };
  private readonly mPerDegLon: number;
  private cursor = 0;

  constructor(options: FleetOptions = {}, startMs = Date.now()) {
    const n = options.vehicles ?? 2000;
    this.intervalMs = options.intervalMs ?? 1000;
    this.random = seededRandom(options.seed ?? 1);
    this.centre = options.centre ?? { lat: 48.8566, lon: 2.3522 };
    this.mPerDegLon = M_PER_DEG_LAT * Math.cos((this.centre.lat * Math.PI) / 180);
    const loops = Array.from({ length: 8 }, () => this.busLoop());
    for (let i = 0; i < n; i++) {
      const r = this.random.next();
      const kind: Kind = r < 0.45 ? 'van' : r < 0.8 ? 'taxi' : r < 0.9 ? 'bus' : 'truck';
      const cruise = kind === 'truck' ? 19 + this.random.next() * 6 : kind === 'bus' ? 8 + this.random.next() * 3 : 7 + this.random.next() * 8;
      const loop = kind === 'bus' ? loops[i % loops.length]! : undefined;
      const start = loop ? loop[this.random.int(loop.length)]! : this.intersection();
      const v: Vehicle = {
        id: `veh-${String(i + 1).padStart(6, '0')}`,
        kind,
        x: start[0],
        y: start[1],
        dir: this.random.int(4),
        speed: cruise,
        cruise,
        angle: this.random.next() * 2 * Math.PI,
        spin: this.random.next() < 0.5 ? 1 : -1,
        loop,
        next: loop ? (loop.indexOf(start) + 1) % loop.length : 0,
        lastMove: startMs,
        // Phases spread evenly over one interval.
        due: startMs + (i * this.intervalMs) / n,
      };
      this.vehicles.push(v);
    }
  }

  get size(): number {
    return this.vehicles.length;
  }

  /** Fixes of every vehicle whose report is due by `nowMs`, in time order (at most one per vehicle per call). */
  due(nowMs: number, gateway: (vehicleIndex: number) => string, tsOf: () => number = () => nowMs): GpsFix[] {
    const out: GpsFix[] = [];
    const n = this.vehicles.length;
    for (let k = 0; k < n; k++) {
      const i = this.cursor;
      const v = this.vehicles[i]!;
      if (v.due > nowMs) break;
      this.move(v, nowMs);
      v.due += this.intervalMs;
      // A fix never goes back in time, however late the driver runs.
      if (v.due <= nowMs) v.due = nowMs + this.intervalMs;
      out.push(this.fix(v, tsOf(), gateway(i)));
      this.cursor = (i + 1) % n;
    }
    return out;
  }

  private fix(v: Vehicle, ts: number, gw: string): GpsFix {
    const heading = v.kind === 'truck' ? (((v.spin > 0 ? -v.angle : Math.PI - v.angle) * 180) / Math.PI + 360) % 360 : v.dir * 90;
    return {
      vehicleId: v.id,
      ts,
      lat: round(this.centre.lat + v.y / M_PER_DEG_LAT, 6),
      lon: round(this.centre.lon + v.x / this.mPerDegLon, 6),
      speed: round(v.speed, 1),
      heading: Math.round(heading),
      gw,
    };
  }

  private move(v: Vehicle, nowMs: number): void {
    const dt = Math.max(0, (nowMs - v.lastMove) / 1000);
    v.lastMove = nowMs;
    // Speed drifts around cruise (traffic), with the odd stop at a light.
    v.speed = Math.max(0, Math.min(v.cruise * 1.3, v.speed + (this.random.next() - 0.5) * 2));
    if (v.kind !== 'truck' && this.random.next() < 0.03) v.speed = 0;
    else if (v.speed < 1) v.speed = v.cruise * 0.5;
    let left = v.speed * dt;
    if (v.kind === 'truck') {
      v.angle += (v.spin * left) / RING_RADIUS_M;
      v.x = RING_RADIUS_M * Math.cos(v.angle);
      v.y = RING_RADIUS_M * Math.sin(v.angle);
      return;
    }
    if (v.loop) {
      while (left > 0) {
        const [tx, ty] = v.loop[v.next]!;
        const d = Math.hypot(tx - v.x, ty - v.y);
        if (d > left) {
          v.x += ((tx - v.x) / d) * left;
          v.y += ((ty - v.y) / d) * left;
          v.dir = Math.abs(tx - v.x) > Math.abs(ty - v.y) ? (tx > v.x ? 1 : 3) : ty > v.y ? 0 : 2;
          return;
        }
        v.x = tx;
        v.y = ty;
        left -= d;
        v.next = (v.next + 1) % v.loop.length;
      }
      return;
    }
    // Street grid: drive to the next intersection, then go straight or turn (no U-turns).
    while (left > 0) {
      const along = v.dir % 2 === 0 ? v.y : v.x;
      const sign = v.dir === 0 || v.dir === 1 ? 1 : -1;
      const nextLine = sign > 0 ? Math.floor(along / BLOCK_M + 1e-9) * BLOCK_M + BLOCK_M : Math.ceil(along / BLOCK_M - 1e-9) * BLOCK_M - BLOCK_M;
      const toNext = Math.abs(nextLine - along);
      if (toNext > left) {
        v.x += DX[v.dir]! * left;
        v.y += DY[v.dir]! * left;
        return;
      }
      v.x += DX[v.dir]! * toNext;
      v.y += DY[v.dir]! * toNext;
      left -= toNext;
      v.dir = this.turn(v);
    }
  }

  private turn(v: Vehicle): number {
    const r = this.random.next();
    const choices = r < 0.6 ? [v.dir, (v.dir + 1) % 4, (v.dir + 3) % 4] : r < 0.8 ? [(v.dir + 1) % 4, v.dir, (v.dir + 3) % 4] : [(v.dir + 3) % 4, v.dir, (v.dir + 1) % 4];
    for (const d of choices) {
      const nx = v.x + DX[d]! * BLOCK_M;
      const ny = v.y + DY[d]! * BLOCK_M;
      if (Math.hypot(nx, ny) <= CITY_RADIUS_M) return d;
    }
    return (v.dir + 2) % 4; // dead end at the city limit: the only way is back
  }

  private intersection(): [number, number] {
    for (;;) {
      const x = (this.random.int(2 * Math.floor(CITY_RADIUS_M / BLOCK_M)) - Math.floor(CITY_RADIUS_M / BLOCK_M)) * BLOCK_M;
      const y = (this.random.int(2 * Math.floor(CITY_RADIUS_M / BLOCK_M)) - Math.floor(CITY_RADIUS_M / BLOCK_M)) * BLOCK_M;
      if (Math.hypot(x, y) <= CITY_RADIUS_M) return [x, y];
    }
  }

  /** A bus line: a closed loop of 6–10 intersections crossing the centre. */
  private busLoop(): Array<[number, number]> {
    const stops = 6 + this.random.int(5);
    const radius = 1500 + this.random.next() * 2000;
    const phase = this.random.next() * 2 * Math.PI;
    const loop: Array<[number, number]> = [];
    for (let k = 0; k < stops; k++) {
      const a = phase + (k / stops) * 2 * Math.PI;
      const r = radius * (0.6 + 0.4 * this.random.next());
      loop.push([Math.round((r * Math.cos(a)) / BLOCK_M) * BLOCK_M, Math.round((r * Math.sin(a)) / BLOCK_M) * BLOCK_M]);
    }
    return loop;
  }
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}
