import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './net';

/**
 * A private PostgreSQL server for tests that restart or crash it (never the shared one on 5432):
 * `initdb` into a temporary folder and `pg_ctl` on a free port, without fsync (the machine does
 * not crash in a test, only the server does). The binaries come from /usr/lib/postgresql/<newest>/bin, or PATH.
 * PostgreSQL refuses to run as root, so under root it runs as the `postgres` user.
 */
export class PrivatePostgres {
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
    private readonly as: { uid: number; gid: number } | undefined,
  ) {}

  static async start(): Promise<PrivatePostgres> {
    const bin = postgresBin();
    const as = process.getuid?.() === 0 ? postgresUser() : undefined;
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ld-pg-'));
    if (as) fs.chownSync(dir, as.uid, as.gid);
    const pg = new PrivatePostgres(dir, await freePort(), bin, as);
    await pg.run('initdb', ['-D', pg.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
    await pg.start();
    return pg;
  }

  get data(): string {
    return path.join(this.dir, 'data');
  }

  /** The superuser's URL for a database on this server. */
  url(database = 'postgres', user = 'postgres'): string {
    return `postgres://${user}@127.0.0.1:${this.port}/${database}`;
  }

  async start(): Promise<void> {
    await this.run('pg_ctl', ['-D', this.data, '-l', path.join(this.dir, 'server.log'), '-w', '-t', '30', '-o', this.options(), 'start']);
  }

  /**
   * Stops the server: `immediate` is a crash (every connection cut, recovery on the next start),
   * `fast` a clean shutdown that still cuts every connection.
   */
  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await this.run('pg_ctl', ['-D', this.data, '-m', mode, '-w', '-t', '30', 'stop']);
  }

  async restart(mode: 'fast' | 'immediate' = 'fast', downMs = 0): Promise<void> {
    await this.stop(mode);
    if (downMs) await new Promise((r) => setTimeout(r, downMs));
    await this.start();
  }

  /** Stops the server and removes its folder. */
  async destroy(): Promise<void> {
    await this.stop('immediate').catch(() => undefined);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  private options(): string {
    return [
      `-p ${this.port}`,
      "-c listen_addresses='127.0.0.1'",
      `-k ${this.dir}`,
      // No fsync: the operating system outlives every crash a test causes. Commits stay
      // synchronous, so a crashed server (stop -m immediate) keeps every commit it acknowledged.
      '-c fsync=off',
      '-c max_connections=200',
    ].join(' ');
  }

  private run(tool: string, args: string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = spawn(path.join(this.bin, tool), args, { cwd: this.dir, stdio: ['ignore', 'ignore', 'pipe'], ...(this.as ?? {}) });
      let err = '';
      child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${tool} ${args.at(-1)} exited ${code}: ${err.slice(-1000)}`))));
    });
  }
}

function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const versions = fs.existsSync(root) ? fs.readdirSync(root).filter((v) => fs.existsSync(path.join(root, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions[0]) return path.join(root, versions[0], 'bin');
  const found = execFileSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).trim();
  if (!found) throw new Error('no PostgreSQL server binaries (initdb, pg_ctl) found under /usr/lib/postgresql or on PATH');
  return path.dirname(found);
}

function postgresUser(): { uid: number; gid: number } {
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid };
}
