import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';

const CLI = path.resolve(__dirname, '..', '..', 'bin', 'lifecycle-desk.js');

export interface ChildService {
  readonly child: ChildProcess;
  /** Everything the process printed (JSON log lines on stdout, messages on stderr). */
  output(): string;
  /** True while the process runs. */
  alive(): boolean;
  kill9(): Promise<void>;
  /** SIGTERM, then waits for the exit (SIGKILL after `ms`). */
  stop(ms?: number): Promise<number | null>;
}

/** `lifecycle-desk start …` in its own process (the built CLI), resolved once it logs that it started. */
export function spawnService(args: string[], env: Record<string, string>, timeoutMs = 30_000): Promise<ChildService> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, 'start', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let started = false;
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    const service: ChildService = {
      child,
      output: () => out,
      alive: () => child.exitCode === null && child.signalCode === null,
      kill9: async () => {
        if (!service.alive()) return;
        child.kill('SIGKILL');
        await exited;
      },
      stop: async (ms = 15_000) => {
        if (!service.alive()) return child.exitCode;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), ms);
        const code = await exited;
        clearTimeout(timer);
        return code;
      },
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the service did not start within ${timeoutMs} ms: ${out.slice(-2000)}`));
    }, timeoutMs);
    const onData = (b: Buffer) => {
      out += b.toString();
      if (!started && out.includes('lifecycle-desk started')) {
        started = true;
        clearTimeout(timer);
        resolve(service);
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then((code) => {
      if (started) return;
      clearTimeout(timer);
      reject(new Error(`the service exited (${code}) before it started: ${out.slice(-2000)}`));
    });
  });
}
