import { readFileSync } from 'node:fs';

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
