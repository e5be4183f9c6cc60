/**
 * Randomness is injected so that membership, gossip and the simulator replay exactly from a
 * seed. `seededRandom` is splitmix32-based: tiny, fast, and good enough for peer selection.
 */
export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform integer in [0, n). */
  int(n: number): number;
  /** One element of a non-empty array, uniformly. */
  pick<T>(items: readonly T[]): T;
  /** A new array with up to `k` distinct elements of `items`, uniformly chosen. */
  sample<T>(items: readonly T[], k: number): T[];
  /** A shuffled copy of `items`. */
  shuffle<T>(items: readonly T[]): T[];
}

abstract class BaseRandom implements Random {
  abstract next(): number;

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty array');
    return items[this.int(items.length)]!;
  }

  sample<T>(items: readonly T[], k: number): T[] {
    const copy = items.slice();
    const n = Math.min(k, copy.length);
    // Partial Fisher-Yates: only the first n positions are settled.
    for (let i = 0; i < n; i++) {
      const j = i + this.int(copy.length - i);
      [copy[i], copy[j]] = [copy[j]!, copy[i]!];
    }
    copy.length = n;
    return copy;
  }

  shuffle<T>(items: readonly T[]): T[] {
    return this.sample(items, items.length);
  }
}

class SeededRandom extends BaseRandom {
  private state: number;
  constructor(seed: number) {
    super();
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 4294967296;
  }
}

class MathRandom extends BaseRandom {
  next(): number {
    return Math.random();
  }
}

export function seededRandom(seed: number): Random {
  return new SeededRandom(seed);
}

export const systemRandom: Random = new MathRandom();
