import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as net from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A port whose cluster bus port (+10000) is free too. */
async function clusterPort(): Promise<number> {
  const bind = (port: number) =>
    new Promise<net.Server | null>((resolve) => {
      const s = net.createServer();
      s.once('error', () => resolve(null));
      s.listen(port, '127.0.0.1', () => resolve(s));
    });
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 30_000);
    const a = await bind(port);
    if (!a) continue;
    const b = await bind(port + 10_000);
    a.close();
    if (b) {
      b.close();
      return port;
    }
  }
  throw new Error('no free port pair for a Redis Cluster node');
}

/**
 * A local three-master Redis Cluster (no replicas, nothing persisted but each node's cluster
 * config, so a restart keeps the slots and loses every key, like PrivateRedis.restart).
 */
export class RedisCluster {
  private procs: ChildProcess[] = [];
  private constructor(
    readonly ports: readonly number[],
    private readonly dir: string,
  ) {}

  static async start(): Promise<RedisCluster> {
    const ports: number[] = [];
    while (ports.length < 3) {
      const p = await clusterPort();
      if (!ports.includes(p)) ports.push(p);
    }
    const c = new RedisCluster(ports, fs.mkdtempSync(path.join(os.tmpdir(), 'ld-cluster-')));
    await c.startNodes();
    await run('redis-cli', ['--cluster', 'create', ...ports.map((p) => `127.0.0.1:${p}`), '--cluster-replicas', '0', '--cluster-yes']);
    await c.waitOk();
    return c;
  }

  /** A seed node's URL (with REDIS_CLUSTER=true the client discovers the others). */
  get url(): string {
    return `redis://127.0.0.1:${this.ports[0]}`;
  }

  private async startNodes(): Promise<void> {
    this.procs = this.ports.map((port) =>
      spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--bind',
          '127.0.0.1',
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          path.join(this.dir, `nodes-${port}.conf`),
          '--dir',
          this.dir,
          '--save',
          '',
          '--appendonly',
          'no',
          '--maxmemory-policy',
          'noeviction',
        ],
        { stdio: 'ignore' },
      ),
    );
    for (const port of this.ports) {
      for (let i = 0; ; i++) {
        try {
          await run('redis-cli', ['-p', String(port), 'ping']);
          break;
        } catch {
          if (i > 100) throw new Error(`redis cluster node ${port} did not start`);
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    }
  }

  private async waitOk(): Promise<void> {
    for (let i = 0; i < 300; i++) {
      const states = await Promise.all(
        this.ports.map((p) =>
          run('redis-cli', ['-p', String(p), 'cluster', 'info']).then(
            (r) => r.stdout,
            () => '',
          ),
        ),
      );
      if (states.every((s) => s.includes('cluster_state:ok'))) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('the Redis Cluster did not become ok');
  }

  async stop(): Promise<void> {
    const procs = this.procs;
    this.procs = [];
    await Promise.all(
      procs.map((p) => new Promise<void>((resolve) => (p.exitCode !== null ? resolve() : (p.once('exit', () => resolve()), p.kill('SIGKILL'))))),
    );
  }

  /** Every node killed and started again: the slots stay, every key is gone. */
  async restart(): Promise<void> {
    await this.stop();
    await this.startNodes();
    await this.waitOk();
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
