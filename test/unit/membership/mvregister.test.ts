import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { MVRegister } from '../../../src/membership/mvregister.js';

type Op = { kind: 'set'; r: number; value: number } | { kind: 'clear'; r: number } | { kind: 'merge'; into: number; from: number } | { kind: 'restart'; r: number };

const N = 3;
const r = fc.nat({ max: N - 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), r, value: fc.nat({ max: 9 }) }),
  fc.record({ kind: fc.constant('clear' as const), r }),
  fc.record({ kind: fc.constant('merge' as const), into: r, from: r }),
  fc.record({ kind: fc.constant('restart' as const), r }),
);

function run(ops: readonly Op[]): MVRegister<number>[] {
  const regs = Array.from({ length: N }, () => new MVRegister<number>());
  const inc = Array.from({ length: N }, () => 1);
  for (const op of ops) {
    if (op.kind === 'set') regs[op.r]!.set({ name: `r${op.r}@h`, incarnation: inc[op.r]! }, op.value);
    else if (op.kind === 'clear') regs[op.r]!.clear();
    else if (op.kind === 'merge') regs[op.into]!.merge(regs[op.from]!);
    else {
      inc[op.r]!++;
      regs[op.r] = new MVRegister<number>();
    }
  }
  return regs;
}

function join<V>(a: MVRegister<V>, b: MVRegister<V>): MVRegister<V> {
  const c = a.clone();
  c.merge(b);
  return c;
}

describe('MVRegister', () => {
  it('merge is commutative, associative, idempotent and round-trips through JSON (fast-check)', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const [a, b, c] = run(ops) as [MVRegister<number>, MVRegister<number>, MVRegister<number>];
        assert.ok(join(a, b).equals(join(b, a)));
        assert.ok(join(join(a, b), c).equals(join(a, join(b, c))));
        assert.ok(join(a, a).equals(a));
        assert.equal(join(a, b).digest(), join(b, a).digest());
        const back = MVRegister.decode<number>(JSON.parse(JSON.stringify(a.encode())));
        assert.ok(back.equals(a));
        assert.deepEqual(back.values(), a.values());
      }),
      { numRuns: 300 },
    );
  });

  it('holds one value per concurrent writer, and a write that saw them all replaces them', () => {
    const x = new MVRegister<string>();
    const y = new MVRegister<string>();
    x.set({ name: 'x@h', incarnation: 1 }, 'x');
    y.set({ name: 'y@h', incarnation: 1 }, 'y');
    x.merge(y);
    assert.deepEqual(x.values(), ['x', 'y']);
    y.merge(x);
    y.set({ name: 'y@h', incarnation: 1 }, 'both seen');
    x.merge(y);
    assert.deepEqual(x.values(), ['both seen']);
  });

  it('a newer incarnation of a writer supersedes the older one without having seen it', () => {
    const old = new MVRegister<string>();
    old.set({ name: 'n@h', incarnation: 1 }, 'old address');
    const restarted = new MVRegister<string>();
    restarted.set({ name: 'n@h', incarnation: 2 }, 'new address');
    assert.deepEqual(join(old, restarted).values(), ['new address']);
    assert.deepEqual(join(restarted, old).values(), ['new address']);
  });
});
