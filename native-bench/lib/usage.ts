/** CPU time over a measured window and peak RSS, as each benchmark process reports them. */

export interface UsageWindow {
  /** Call at the window's start. */
  start(): void;
  /** Call at the window's end. */
  stop(): void;
  /** CPU ms used inside the window (so far, while it is open), peak RSS MB, window length ms. */
  read(): { cpuMs: number; peakRssMB: number; windowMs: number };
}

function cpuMsNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

export function usageWindow(): UsageWindow {
  let cpu0 = 0;
  let t0 = 0;
  let cpu1: number | undefined;
  let t1: number | undefined;
  return {
    start() {
      cpu0 = cpuMsNow();
      t0 = performance.now();
      cpu1 = undefined;
      t1 = undefined;
    },
    stop() {
      cpu1 = cpuMsNow();
      t1 = performance.now();
    },
    read() {
      return {
        cpuMs: (cpu1 ?? cpuMsNow()) - cpu0,
        windowMs: (t1 ?? performance.now()) - t0,
        // resourceUsage().maxRSS is in KiB on Linux.
        peakRssMB: (process.resourceUsage().maxRSS * 1024) / 1e6,
      };
    },
  };
}

/**
 * Start/stop `window` at the absolute wall-clock times given (ms, wallClockMs() scale), so all
 * processes of a run measure the same interval.
 */
export function scheduleWindow(window: UsageWindow, fromWallMs: number, toWallMs: number, now: number): void {
  setTimeout(() => window.start(), Math.max(0, fromWallMs - now)).unref();
  setTimeout(() => window.stop(), Math.max(0, toWallMs - now)).unref();
}
