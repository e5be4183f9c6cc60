/**
 * Where a process's time went, from a V8 .cpuprofile (`npm run bench -- <scenario> --profile
 * <dir>` writes one per role process): self time per function and per area of the code
 * (our layers, msgpackr, the quinn binding's JS, node internals, GC, idle).
 *
 *   node --import tsx native-bench/profile-summary.ts <file.cpuprofile> [--top 25]
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The area a frame belongs to, by its script URL. */
function area(url: string, name: string): string {
  if (name === '(garbage collector)') return 'GC';
  if (name === '(idle)') return 'idle (waiting for I/O)';
  if (name === '(program)') return 'V8/native (program)';
  const m = /\/src\/([a-z-]+)\//.exec(url);
  if (m && !url.includes('node_modules')) return `src/${m[1]}`;
  if (url.includes('native-bench')) return 'benchmark harness';
  if (url.includes('msgpackr')) return 'msgpackr';
  if (url.includes('libp2p-quic') || url.includes('napi')) return 'quinn binding (JS)';
  if (url.includes('hdr-histogram')) return 'hdr-histogram';
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  if (url === '') return name ? `native: ${name}` : 'native';
  return url.replace(/^.*node_modules\//, '').split('/')[0]!;
}

export function summarizeProfile(file: string, top = 25): string {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i]!, (self.get(p.samples[i]!) ?? 0) + (p.timeDeltas[i] ?? 0));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byArea = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id)!;
    const f = n.callFrame;
    const key = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(src|native-bench|node_modules)\//, '$1/')}:${f.lineNumber + 1}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const a = area(f.url, f.functionName);
    byArea.set(a, (byArea.get(a) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const lines = [`${file}: ${(total / 1e6).toFixed(2)} s sampled`, '', 'by area:'];
  for (const [a, us] of [...byArea].sort((x, y) => y[1] - x[1])) lines.push(`  ${pct(us)}  ${a}`);
  lines.push('', `top ${top} functions (self time):`);
  for (const [k, us] of [...byFn].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${k}`);
  return lines.join('\n');
}

const args = process.argv.slice(2);
const topAt = args.indexOf('--top');
const top = topAt >= 0 ? Number(args[topAt + 1]) : 25;
for (const f of args.filter((a, i) => !a.startsWith('--') && (topAt < 0 || i !== topAt + 1))) console.log(`${summarizeProfile(f, top)}\n`);
