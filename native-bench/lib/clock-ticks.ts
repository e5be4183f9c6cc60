/** Clock ticks per second for /proc CPU times (getconf CLK_TCK; 100 on every common Linux). */
import { spawnSync } from 'node:child_process';

let ticks: number | undefined;

export function clkTck(): number {
  if (ticks === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const n = Number(out.stdout?.trim());
    ticks = Number.isFinite(n) && n > 0 ? n : 100;
  }
  return ticks;
}
