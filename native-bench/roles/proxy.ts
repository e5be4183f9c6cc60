/**
 * A userspace delay proxy (this machine has no tc netem): every datagram (UDP, for QUIC) or
 * every chunk (TCP, one upstream connection per accepted one) is forwarded after `delayMs`
 * in each direction, so a path through it has an RTT of 2 × delayMs on top of loopback.
 *
 * Delays are a FIFO with one timer (a constant delay keeps due times in order), not a timer
 * per packet. Timer granularity is ~1 ms, so small delays round up; the scenario reports the
 * RTT it asked for and the idle latency it measured. It runs in its own process so its work
 * is charged to neither endpoint. UDP sockets get 4 MiB buffers (the kernel caps them at
 * net.core.rmem_max/wmem_max); `stats` counts what passed. TCP pauses a side once 4 MiB wait in the delay line
 * (a bounded network buffer, not an unbounded one).
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { once } from 'node:events';
import { createConnection, createServer, type Socket } from 'node:net';
import { serve } from '../lib/serve.js';

const HOST = '127.0.0.1';

/** Items released in order after a fixed delay, by one timer. */
class DelayLine {
  private readonly items: Array<{ due: number; run: () => void }> = [];
  private head = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly delayMs: number) {}

  push(run: () => void): void {
    if (this.delayMs <= 0) {
      run();
      return;
    }
    this.items.push({ due: performance.now() + this.delayMs, run });
    if (!this.timer) this.arm();
  }

  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.items.length = 0;
    this.head = 0;
  }

  private arm(): void {
    const next = this.items[this.head];
    if (!next) {
      this.timer = undefined;
      return;
    }
    this.timer = setTimeout(this.fire, Math.max(0, next.due - performance.now()));
  }

  private readonly fire = (): void => {
    const now = performance.now();
    while (this.head < this.items.length && this.items[this.head]!.due <= now + 0.25) this.items[this.head++]!.run();
    if (this.head > 4096 && this.head * 2 > this.items.length) {
      this.items.splice(0, this.head);
      this.head = 0;
    }
    this.arm();
  };
}

const UDP_BUFFER_BYTES = 4 * 1024 * 1024;
let closers: Array<() => void> = [];
const stats = { packets: 0, bytes: 0 };

/** UDP: one upstream socket per client address (a NAT), datagrams delayed both ways. */
async function udp(targetPort: number, delayMs: number): Promise<number> {
  // Large socket buffers (capped by net.core.rmem_max/wmem_max): the proxy must not be where
  // datagrams are lost, or QUIC's congestion control measures the proxy, not the path.
  const udpSocket = (): UdpSocket => createSocket({ type: 'udp4', recvBufferSize: UDP_BUFFER_BYTES, sendBufferSize: UDP_BUFFER_BYTES });
  const front = udpSocket();
  const upstream = new Map<string, UdpSocket>();
  const toServer = new DelayLine(delayMs);
  const toClient = new DelayLine(delayMs);
  front.on('message', (msg: Buffer, client: RemoteInfo) => {
    const key = `${client.address}:${client.port}`;
    let up = upstream.get(key);
    if (!up) {
      const u = udpSocket();
      u.on('message', (reply: Buffer) => {
        stats.packets++;
        stats.bytes += reply.length;
        toClient.push(() => front.send(reply, client.port, client.address));
      });
      u.on('error', () => {});
      u.bind(0, HOST);
      upstream.set(key, u);
      up = u;
    }
    stats.packets++;
    stats.bytes += msg.length;
    const u = up;
    toServer.push(() => u.send(msg, targetPort, HOST));
  });
  front.on('error', () => {});
  front.bind(0, HOST);
  await once(front, 'listening');
  closers.push(() => {
    toServer.close();
    toClient.close();
    for (const u of upstream.values()) u.close();
    front.close();
  });
  return front.address().port;
}

const HIGH_WATER = 4 * 1024 * 1024;

/**
 * One direction of a TCP pair: chunks delayed. The source is paused while the delay line holds
 * more than HIGH_WATER (until it drains to a quarter) or while the destination is not draining.
 */
function pipeDelayed(src: Socket, dst: Socket, delayMs: number): DelayLine {
  const line = new DelayLine(delayMs);
  let waiting = 0;
  let lineFull = false;
  let dstFull = false;
  const update = (): void => {
    if (lineFull || dstFull) {
      if (!src.isPaused()) src.pause();
    } else if (src.isPaused()) {
      src.resume();
    }
  };
  src.on('data', (chunk: Buffer) => {
    stats.packets++;
    stats.bytes += chunk.length;
    waiting += chunk.length;
    if (waiting > HIGH_WATER) lineFull = true;
    update();
    line.push(() => {
      waiting -= chunk.length;
      if (lineFull && waiting < HIGH_WATER / 4) lineFull = false;
      if (!dst.write(chunk) && !dstFull) {
        dstFull = true;
        dst.once('drain', () => {
          dstFull = false;
          update();
        });
      }
      update();
    });
  });
  src.on('end', () => line.push(() => dst.end()));
  src.on('error', () => dst.destroy());
  return line;
}

async function tcp(targetPort: number, delayMs: number): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    client.setNoDelay(true);
    const up = createConnection({ host: HOST, port: targetPort, noDelay: true });
    sockets.add(client);
    sockets.add(up);
    const lines = [pipeDelayed(client, up, delayMs), pipeDelayed(up, client, delayMs)];
    const done = (): void => {
      for (const l of lines) l.close();
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('close', done);
    up.on('close', done);
  });
  server.listen(0, HOST);
  await once(server, 'listening');
  closers.push(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return (server.address() as { port: number }).port;
}

serve({
  /** Start a proxy to 127.0.0.1:targetPort; returns the port to dial instead. */
  start: (protocol: 'udp' | 'tcp', targetPort: number, delayMs: number) => (protocol === 'udp' ? udp(targetPort, delayMs) : tcp(targetPort, delayMs)),
  stats: () => ({ ...stats }),
  close() {
    const all = closers;
    closers = [];
    for (const c of all) c();
    return true;
  },
});
