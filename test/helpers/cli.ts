import { main } from '../../src/cli';

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the lifecycle-desk CLI in-process against the given environment, capturing its output. */
export async function runCli(args: string[], env: Record<string, string | undefined>): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    stdout: (s) => void (stdout += s),
    stderr: (s) => void (stderr += s),
    env: { LOG_LEVEL: 'silent', ...env },
  });
  return { code, stdout, stderr };
}
