// The README's table of library options is the BridgeOptions type's keys, no more, no fewer.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const read = (p: string) => readFileSync(fileURLToPath(new URL(`../../${p}`, import.meta.url)), 'utf8');

/** The property names of `export interface NAME ... { }` in a source file (nested braces skipped). */
function keys(source: string, name: string): string[] {
  const start = source.indexOf(`export interface ${name}`);
  let i = source.indexOf('{', start) + 1;
  let depth = 1;
  let body = '';
  for (; depth > 0; i++) {
    const c = source[i]!;
    if (c === '{') depth++;
    if (c === '}') depth--;
    if (depth === 1 || (depth === 2 && c === '{')) body += c;
  }
  body = body.replace(/\/\*[\s\S]*?\*\//g, '');
  return [...body.matchAll(/^\s+(\w+)\??:/gm)].map((m) => m[1]!);
}

describe('README: the library options', () => {
  it('lists every BridgeOptions key (ServerLimits and ShadowOptions included) and nothing else', () => {
    const options = read('src/bridge/options.ts');
    expect(options).toContain('export interface BridgeOptions extends ServerLimits, ShadowOptions');
    const want = [...new Set([...keys(options, 'BridgeOptions'), ...keys(read('src/http/listen.ts'), 'ServerLimits'), ...keys(read('src/shadow/shadow-config.ts'), 'ShadowOptions')])].sort();
    const readme = read('README.md');
    const table = readme.slice(readme.indexOf('| Option | Type | What it is |'));
    const rows = table.split('\n').filter((l) => l.startsWith('| `'));
    const listed = rows.map((l) => /^\| `(\w+)`/.exec(l)![1]!).sort();
    expect(listed).toEqual(want);
  });
});
