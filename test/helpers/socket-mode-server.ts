import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { Duplex } from 'node:stream';
import type { AddressInfo } from 'node:net';

/**
 * The WebSocket side of Slack's Socket Mode, for tests: the URL apps.connections.open hands out.
 * It greets with `hello`, sends envelopes as Slack does, and records the acknowledgements
 * (`{"envelope_id": …}`) the app sends back. A minimal RFC 6455 server (text frames, ping/pong,
 * close), because no WebSocket server package is installed.
 */
export class SocketModeServer {
  readonly acks: { envelope_id: string; payload?: unknown }[] = [];
  private socket: Duplex | null = null;
  private connectedResolve: (() => void) | null = null;
  readonly connected: Promise<void>;

  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {
    this.connected = new Promise((r) => (this.connectedResolve = r));
  }

  static async start(): Promise<SocketModeServer> {
    const holder: { s?: SocketModeServer } = {};
    const server = createServer((_req, res) => res.writeHead(426).end());
    server.on('upgrade', (req, socket) => holder.s!.accept(req.headers['sec-websocket-key'] as string, socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    holder.s = new SocketModeServer(server, `ws://127.0.0.1:${(server.address() as AddressInfo).port}/link`);
    return holder.s;
  }

  private accept(key: string, socket: Duplex) {
    const accept = createHash('sha1')
      .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
      .digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    this.socket = socket;
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (buf.length < 2) return;
        const opcode = buf[0]! & 0x0f;
        let len = buf[1]! & 0x7f;
        let off = 2;
        if (len === 126) {
          if (buf.length < 4) return;
          len = buf.readUInt16BE(2);
          off = 4;
        } else if (len === 127) {
          if (buf.length < 10) return;
          len = Number(buf.readBigUInt64BE(2));
          off = 10;
        }
        const masked = (buf[1]! & 0x80) !== 0;
        const need = off + (masked ? 4 : 0) + len;
        if (buf.length < need) return;
        const mask = masked ? buf.subarray(off, off + 4) : null;
        const payload = Buffer.from(buf.subarray(off + (masked ? 4 : 0), need));
        if (mask) for (let i = 0; i < payload.length; i++) payload[i] = payload[i]! ^ mask[i % 4]!;
        buf = buf.subarray(need);
        if (opcode === 0x1) this.acks.push(JSON.parse(payload.toString('utf8')) as { envelope_id: string });
        else if (opcode === 0x9) this.frame(0xa, payload);
        else if (opcode === 0x8) socket.end();
      }
    });
    socket.on('error', () => undefined);
    this.send({
      type: 'hello',
      num_connections: 1,
      debug_info: { host: 'stand-in', approximate_connection_time: 18060 },
      connection_info: { app_id: 'A0LIFECYCLE' },
    });
    this.connectedResolve?.();
  }

  private frame(opcode: number, payload: Buffer) {
    const len = payload.length;
    const head =
      len < 126
        ? Buffer.from([0x80 | opcode, len])
        : len < 65536
          ? Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff])
          : Buffer.concat([
              Buffer.from([0x80 | opcode, 127]),
              (() => {
                const b = Buffer.alloc(8);
                b.writeBigUInt64BE(BigInt(len));
                return b;
              })(),
            ]);
    this.socket?.write(Buffer.concat([head, payload]));
  }

  send(message: unknown): void {
    this.frame(0x1, Buffer.from(JSON.stringify(message)));
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}
