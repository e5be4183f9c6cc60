/**
 * The other end of child.ts: a role script calls `serve(commands)`; the orchestrator calls
 * the commands by name. Commands take and return JSON. Built in: `usage` (CPU in the measured
 * window and peak RSS), `window` (arm that window at absolute wall-clock times) and `exit`.
 */
import { wallClockMs } from './histogram.js';
import { scheduleWindow, usageWindow } from './usage.js';

export interface Request {
  id: number;
  cmd: string;
  args: unknown[];
}

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string; code?: string };

export type Commands = Record<string, (...args: never[]) => unknown>;

/** The measured window of this process (every role shares the built-ins). */
export const measured = usageWindow();

export function serve(commands: Commands): void {
  if (process.send === undefined) {
    console.error('this script is a benchmark role: it is started by native-bench/run.ts');
    process.exit(2);
  }
  const builtins: Commands = {
    window: (fromWallMs: number, toWallMs: number) => scheduleWindow(measured, fromWallMs, toWallMs, wallClockMs()),
    usage: () => measured.read(),
    exit: () => {
      // Exit after the reply is out; a --cpu-prof profile is written on a normal exit.
      setImmediate(() => process.exit(0));
      return true;
    },
  };
  const all: Commands = { ...builtins, ...commands };
  process.on('message', (raw: Request) => {
    const fn = all[raw.cmd];
    const answer = (reply: Reply): void => {
      if (process.connected) process.send!(reply);
    };
    if (!fn) {
      answer({ id: raw.id, ok: false, error: `unknown command ${raw.cmd}` });
      return;
    }
    Promise.resolve()
      .then(() => (fn as (...a: unknown[]) => unknown)(...raw.args))
      .then(
        (value) => answer({ id: raw.id, ok: true, value: value ?? null }),
        (err: unknown) =>
          answer({
            id: raw.id,
            ok: false,
            error: err instanceof Error ? (err.stack ?? err.message) : String(err),
            ...(typeof (err as { code?: unknown })?.code === 'string' ? { code: (err as { code: string }).code } : {}),
          }),
      );
  });
  // The orchestrator is gone: nothing is left to measure.
  process.on('disconnect', () => process.exit(0));
  process.send({ ready: true });
}
