import type { Clock } from '../util/clock.js';
import { InvalidOptionError, PartisanError } from '../util/errors.js';
import { Process } from './process.js';
import { pid, type NodeName } from './ref.js';

/** Registered names: like Erlang atoms, but strings; `$`-prefixed names are the runtime's own. */
const REGISTERED_NAME = /^[A-Za-z0-9_.+-][A-Za-z0-9_.+@-]{0,254}$/;

/**
 * The node's local processes and registered names. Ids are never reused within an
 * incarnation, so a stale pid can only miss, never reach another process.
 */
export class ProcessTable {
  private readonly processes = new Map<number, Process>();
  private readonly names = new Map<string, Process>();
  private nextId = 1;

  constructor(
    private readonly node: NodeName,
    private readonly clock: Clock,
    private readonly mailboxCapacity: number,
  ) {}

  get size(): number {
    return this.processes.size;
  }

  create(mailboxCapacity = this.mailboxCapacity): Process {
    const id = this.nextId++;
    const process = new Process(id, pid(this.node, id), this.node, this.clock, mailboxCapacity);
    this.processes.set(id, process);
    process.onExit(() => {
      this.processes.delete(id);
      for (const [name, p] of this.names) if (p === process) this.names.delete(name);
    });
    return process;
  }

  get(id: number): Process | undefined {
    return this.processes.get(id);
  }

  all(): IterableIterator<Process> {
    return this.processes.values();
  }

  register(name: string, process: Process): void {
    if (typeof name !== 'string' || !REGISTERED_NAME.test(name)) {
      throw new InvalidOptionError('name', name, 'registered names are 1-255 characters of [A-Za-z0-9_.+@-], not starting with @');
    }
    if (!process.isAlive) throw new PartisanError('ERR_NOPROC', `process ${process.pid} is not alive`);
    const holder = this.names.get(name);
    if (holder && holder !== process) throw new PartisanError('ERR_NAME_TAKEN', `${JSON.stringify(name)} is registered to ${holder.pid}`);
    this.names.set(name, process);
  }

  unregister(name: string): boolean {
    return this.names.delete(name);
  }

  whereis(name: string): Process | undefined {
    return this.names.get(name);
  }

  registered(): string[] {
    return [...this.names.keys()];
  }
}
