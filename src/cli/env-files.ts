import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

/**
 * dotenv, loaded the first time a file is read: its module costs the process about 6 MiB of RSS
 * (measured on Node 20: idle bridge 67 -> 61 MiB without it), which a start with no --env-file need
 * not pay. dotenv is CommonJS, so require keeps readEnvFiles synchronous.
 */
let dotenvParse: ((text: string) => Record<string, string>) | undefined;
function parse(text: string): Record<string, string> {
  dotenvParse ??= (createRequire(import.meta.url)('dotenv') as typeof import('dotenv')).parse;
  return dotenvParse(text);
}

/**
 * `--env-file FILE` (repeatable): dotenv syntax (dotenv's parser: quotes, `export`, multi-line
 * values). A later file wins over an earlier one; a variable already in the real environment wins
 * over every file, as with dotenv, Symfony's Dotenv and Laravel's phpdotenv, so `APP_ENV=prod
 * fpm-bridge --env-file .env` means prod. Returns the resulting values (real environment included
 * for those names); the caller puts them in process.env and hands the names to the spawned pool.
 */
export function readEnvFiles(files: readonly string[], environment: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const merged: Record<string, string> = {};
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`--env-file ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    Object.assign(merged, parse(text));
  }
  for (const name of Object.keys(merged)) {
    const real = environment[name];
    if (real !== undefined) merged[name] = real;
  }
  return merged;
}

/**
 * What the spawned pool gets (it clears everything else): PATH, so exec() and proc_open() find
 * programs; every --env-file variable; each `--php-env NAME=VALUE` (a value of its own, PHP only) or
 * `--php-env NAME` (this process's value).
 */
export function phpEnvironment(
  fromFiles: Readonly<Record<string, string>>,
  phpEnv: ReadonlyArray<readonly [string, string | undefined]>,
  environment: NodeJS.ProcessEnv = process.env,
): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  if (environment.PATH !== undefined) out.PATH = environment.PATH;
  Object.assign(out, fromFiles);
  for (const [name, value] of phpEnv) out[name] = value ?? environment[name];
  return out;
}
