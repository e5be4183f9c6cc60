/**
 * The progress line: on a terminal, one line rewritten in place (phase, elapsed, live counts);
 * elsewhere (CI logs, the smoke tests) a plain line per phase change only.
 */
export class Progress {
  private readonly tty = process.stderr.isTTY === true;
  private lastPhase = '';
  /** The phase being measured, as a file-name-safe label (profile folders are named after it). */
  current = '';
  private width = 0;

  constructor(private readonly scenario: string) {}

  /** Show `phase` and an optional live detail. */
  update(phase: string, detail = ''): void {
    this.current = phase.replace(/[^A-Za-z0-9.+-]+/g, '_');
    const line = `[${this.scenario}] ${phase}${detail ? `  ${detail}` : ''}`;
    if (this.tty) {
      process.stderr.write(`\r${line.padEnd(this.width)}`);
      this.width = line.length;
    } else if (phase !== this.lastPhase) {
      process.stderr.write(`${line}\n`);
    }
    this.lastPhase = phase;
  }

  /** A line that stays (a variant's result, a skip). */
  log(text: string): void {
    if (this.tty && this.width > 0) process.stderr.write(`\r${' '.repeat(this.width)}\r`);
    this.width = 0;
    process.stderr.write(`[${this.scenario}] ${text}\n`);
    this.lastPhase = '';
  }

  /** Tick `detail()` every second while `work` runs, under `phase`. */
  async during<T>(phase: string, work: Promise<T>, detail?: () => Promise<string> | string): Promise<T> {
    const started = performance.now();
    this.update(phase, '');
    const timer = setInterval(() => {
      const elapsed = ((performance.now() - started) / 1000).toFixed(0);
      void Promise.resolve(detail?.() ?? '')
        .then((d) => this.update(phase, `${elapsed} s${d ? `  ${d}` : ''}`))
        .catch(() => {});
    }, 1000);
    try {
      return await work;
    } finally {
      clearInterval(timer);
    }
  }
}
