import { readFileSync } from 'node:fs';
import { ConfigError } from './index';

/** Reads a JSON config file (catalog, policy, field map) with an error that names the file and what went wrong. */
export function readJsonFile(file: string, what: string, envVar: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${envVar}: cannot read the ${what} at ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new Error(`${envVar}: the ${what} at ${file} is not valid JSON: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * Reads and parses a config file whose problems are configuration errors (exit code 2): anything
 * wrong with it (unreadable, not JSON, invalid) becomes a ConfigError naming the variable and file.
 */
export function configFile<T>(file: string, what: string, envVar: string, parse: (json: unknown, source: string) => T): T {
  try {
    return parse(readJsonFile(file, what, envVar), file);
  } catch (err) {
    const message = (err as Error).message;
    throw new ConfigError([message.startsWith(envVar) ? message : `${envVar}: ${message}`]);
  }
}
