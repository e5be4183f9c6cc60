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
  /** Highest deliveredPerSecond so far (scales the bar). */
  peakPerSecond: number;
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

/** Full ●, some ◐ or no ○ streams of one channel open to a peer. */
function glyph(open: number, parallelism: number): string {
  if (open >= parallelism) return `${GREEN}●${RESET}`;
  return open > 0 ? `${YELLOW}◐${RESET}` : `${YELLOW}○${RESET}`;
}

/** The whole screen, starting with "cursor home + clear". Lines stay within 80 columns for up to 4 nodes. */
export function renderScreen(f: DemoFrame): string {
  const lines: string[] = [];
  const bar = (value: number, max: number, width: number): string => '█'.repeat(Math.max(0, Math.min(width, Math.round((value / Math.max(1, max)) * width))));
  const remaining = f.durationS === undefined ? 'Ctrl-C to stop' : `${Math.max(0, f.durationS - f.elapsedS).toFixed(0)} s left`;
  lines.push(`${BOLD}partisan-ts demo${RESET}  ${f.nodes.length} nodes over ${f.transport}, ${f.vehicles} vehicles   ${DIM}${f.elapsedS.toFixed(0)} s, ${remaining}${RESET}`);
  lines.push('');
  lines.push(`  delivered   ${BOLD}${Math.round(f.deliveredPerSecond).toLocaleString('en-US').padStart(9)}${RESET} msgs/s  ${GREEN}${bar(f.deliveredPerSecond, f.peakPerSecond, 30)}${RESET}`);
  lines.push(`  latency     p50 ${f.p50Ms.toFixed(1).padStart(6)} ms   p99 ${BOLD}${f.p99Ms.toFixed(1).padStart(6)} ms${RESET}`);
  lines.push(`  totals      ${f.fixesTotal.toLocaleString('en-US')} fixes ingested, ${f.deliveredTotal.toLocaleString('en-US')} delivered, ${f.dropped === 0 ? `${GREEN}0 dropped${RESET}` : `${YELLOW}${f.dropped} dropped${RESET}`}`);
  lines.push('');
  const channels = f.nodes.flatMap((n) => n.peers.flatMap((p) => p.channels.map((c) => c.name))).filter((c, i, all) => all.indexOf(c) === i);
  const names = f.nodes.map((n) => short(n.name));
  lines.push(`  ${BOLD}${'node'.padEnd(6)} ${'role'.padEnd(11)} members   streams to ${names.map((n) => n.padEnd(6)).join(' ')}${RESET}`);
  for (const n of f.nodes) {
    const cells = f.nodes.map((other) => {
      if (other === n) return `${DIM}·${RESET}`.padEnd(6 + DIM.length + RESET.length);
      const peer = n.peers.find((p) => p.node === other.name);
      const text = channels.map((c) => {
        const ch = peer?.channels.find((x) => x.name === c);
        return ch ? glyph(ch.open, ch.parallelism) : `${YELLOW}○${RESET}`;
      });
      return text.join('') + ' '.repeat(Math.max(0, 6 - channels.length));
    });
    lines.push(`  ${short(n.name).padEnd(6)} ${n.role.padEnd(11)} ${String(n.members).padStart(7)}   ${' '.repeat(11)}${cells.join(' ')}`);
  }
  const rtts = f.nodes.flatMap((n) => n.peers.map((p) => p.rttMs)).filter((r): r is number => r !== undefined);
  lines.push(`  ${DIM}channels per cell: ${channels.join(', ')}  (● all streams open, ◐ some, ○ none)${rtts.length > 0 ? `  rtt max ${Math.max(...rtts).toFixed(1)} ms` : ''}${RESET}`);
  lines.push('');
  lines.push(`${DIM}  gps: Plumtree broadcast (latestPosition, a worker per node); events: point-to-point${RESET}`);
  return `\x1b[H\x1b[2J${lines.join('\n')}\n`;
}
