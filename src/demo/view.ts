/**
 * The demo's terminal view: a live screen redrawn once a second on a TTY, or one plain
 * progress line per second otherwise (CI logs, pipes).
 */

export interface DemoFrame {
  elapsedS: number;
  durationS: number | undefined;
  transport: string;
  vehicles: number;
  fixesTotal: number;
  /** Over the last second. */
  deliveredPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  deliveredTotal: number;
  dropped: number;
  nodes: Array<{
    name: string;
    role: string;
    members: number;
    peers: Array<{ node: string; channels: Array<{ name: string; open: number; parallelism: number }>; rttMs: number | undefined }>;
  }>;
}

const BOLD = '\x1b[1m';
const DIM = '\x1b[2m';
const GREEN = '\x1b[32m';
const YELLOW = '\x1b[33m';
const RESET = '\x1b[0m';

function short(name: string): string {
  return name.split('@')[0]!;
}

export function renderPlain(f: DemoFrame): string {
  const members = f.nodes.map((n) => n.members).join('/');
  const lanes = f.nodes.reduce((sum, n) => sum + n.peers.reduce((s, p) => s + p.channels.reduce((c, ch) => c + ch.open, 0), 0), 0);
  return `demo: t=${f.elapsedS.toFixed(0)}s ${Math.round(f.deliveredPerSecond)} msgs/s, p99 ${f.p99Ms.toFixed(1)} ms, members ${members}, open streams ${lanes}, ${f.dropped} dropped`;
}

/** The whole screen, starting with "cursor home + clear". */
export function renderScreen(f: DemoFrame, columns: number): string {
  const lines: string[] = [];
  const bar = (value: number, max: number, width: number): string => '█'.repeat(Math.max(0, Math.min(width, Math.round((value / Math.max(1, max)) * width))));
  const remaining = f.durationS === undefined ? 'Ctrl-C to stop' : `${Math.max(0, f.durationS - f.elapsedS).toFixed(0)} s left`;
  lines.push(`${BOLD}partisan-ts demo${RESET}  ${f.nodes.length} nodes over ${f.transport}, ${f.vehicles} vehicles   ${DIM}${f.elapsedS.toFixed(0)} s, ${remaining}${RESET}`);
  lines.push('');
  lines.push(`  delivered   ${BOLD}${Math.round(f.deliveredPerSecond).toLocaleString('en-US').padStart(9)}${RESET} msgs/s  ${GREEN}${bar(f.deliveredPerSecond, 50_000, 30)}${RESET}`);
  lines.push(`  latency     p50 ${f.p50Ms.toFixed(1).padStart(6)} ms   p99 ${BOLD}${f.p99Ms.toFixed(1).padStart(6)} ms${RESET}`);
  lines.push(`  totals      ${f.fixesTotal.toLocaleString('en-US')} fixes ingested, ${f.deliveredTotal.toLocaleString('en-US')} delivered, ${f.dropped === 0 ? `${GREEN}0 dropped${RESET}` : `${YELLOW}${f.dropped} dropped${RESET}`}`);
  lines.push('');
  lines.push(`  ${BOLD}${'node'.padEnd(8)} ${'role'.padEnd(11)} members  connections (open streams/parallelism per channel, rtt)${RESET}`);
  for (const n of f.nodes) {
    const peers = n.peers
      .map((p) => {
        const ch = p.channels.map((c) => `${c.name} ${c.open === c.parallelism ? GREEN : YELLOW}${c.open}/${c.parallelism}${RESET}`).join(' ');
        return `${short(p.node)}[${ch}${p.rttMs === undefined ? '' : ` ${p.rttMs.toFixed(1)}ms`}]`;
      })
      .join(' ');
    lines.push(`  ${short(n.name).padEnd(8)} ${n.role.padEnd(11)} ${String(n.members).padStart(7)}  ${peers}`);
  }
  lines.push('');
  lines.push(`${DIM}  gps: Plumtree broadcast, latestPosition handler, one worker thread per node; events: point-to-point to each vehicle's tracker${RESET}`);
  const width = Math.max(40, columns);
  return `\x1b[H\x1b[2J${lines.map((l) => l.slice(0, width + 40)).join('\n')}\n`;
}
