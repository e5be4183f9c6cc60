/**
 * Where and when a benchmark ran: every result document carries it, so a figure can always be
 * traced to its machine, commit and load.
 */
import { execFileSync } from 'node:child_process';
import { arch, availableParallelism, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (native-bench/lib/ is two levels down). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export interface BenchEnv {
  commit: string;
  node: string;
  cpu: string;
  cores: number;
  os: string;
  date: string;
  /** 1-minute load average when the run started: a busy machine explains noisy numbers. */
  loadAverage: number;
  /** 1-minute load average when the run ended (filled in by finishEnv). */
  loadAverageEnd?: number;
  memoryGiB?: number;
}

export function gitCommit(): string {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    // A run from a tree with uncommitted source changes is not exactly that commit.
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', 'src'], { cwd: repoRoot, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${commit}+dirty` : commit;
  } catch {
    return 'unknown';
  }
}

export function benchEnv(): BenchEnv {
  return {
    commit: gitCommit(),
    node: process.version,
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: availableParallelism(),
    os: `${platform()} ${release()} ${arch()}`,
    date: new Date().toISOString(),
    loadAverage: loadavg()[0]!,
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
  };
}

/** Record the load at the end of the run. */
export function finishEnv(env: BenchEnv): void {
  env.loadAverageEnd = loadavg()[0]!;
}
