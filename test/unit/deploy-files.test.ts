// The deployment files in deploy/ are checked here as far as this machine can: the Dockerfile is
// linted (dockerfile-utils) and its final stage must not run as root; the systemd unit passes
// `systemd-analyze verify` and scores "OK" on `systemd-analyze security --offline`; and the flags each
// file passes to fpm-bridge are parsed by the CLI's own parser, so a renamed flag breaks this test
// rather than a deployment. (No container runtime runs here: the images are not built.)
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { validate, ValidationSeverity } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { parseArgs } from '../../src/cli/args.ts';

const repo = resolve(import.meta.dirname, '../..');
const deploy = (name: string) => readFileSync(join(repo, 'deploy', name), 'utf8');
const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;

describe('deploy/Dockerfile', () => {
  const text = deploy('Dockerfile');

  it('lints clean', () => {
    const problems = validate(text).filter((d) => d.severity === ValidationSeverity.ERROR || d.severity === ValidationSeverity.WARNING);
    expect(problems.map((p) => `${p.range.start.line + 1}: ${p.message}`)).toEqual([]);
  });

  it('builds in stages from a slim Node LTS image and runs as a user that is not root', () => {
    expect(text).toMatch(/^ARG NODE_IMAGE=node:(2[02468])-[a-z]+-slim$/m);
    const stages = text.split(/^FROM /m).slice(1);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    const last = stages.at(-1)!;
    const user = /^USER (\S+)$/m.exec(last)?.[1];
    expect(user).toBeDefined();
    expect(['root', '0']).not.toContain(user);
    expect(last).not.toMatch(/npm ci(?! --omit=dev)/);
  });

  it('passes flags the CLI accepts', () => {
    const cmd = JSON.parse(/^CMD (\[.*\])$/m.exec(text)![1]!) as string[];
    expect(() => parseArgs(cmd)).not.toThrow();
  });
});

describe('deploy/compose.yaml', () => {
  const compose = parseYaml(deploy('compose.yaml')) as {
    services: Record<string, { command?: string[]; volumes?: string[]; image?: string; group_add?: string[] }>;
  };

  it('passes flags the CLI accepts, on the docroot path php-fpm sees too', () => {
    const bridge = compose.services.bridge!;
    const config = parseArgs(bridge.command!);
    expect(config.fpm).toBe('/run/php/php-fpm.sock');
    const php = compose.services.php!;
    expect(php.image).toMatch(/^php:[\d.]+-fpm$/);
    // The same docroot mount in both containers: SCRIPT_FILENAME is a path in php-fpm's file system.
    const docroot = (s: { volumes?: string[] }) => s.volumes!.find((v) => config.root.startsWith(v.split(':')[1]!));
    expect(docroot(bridge)).toBeDefined();
    expect(docroot(bridge)!.split(':').slice(0, 2)).toEqual(docroot(php)!.split(':').slice(0, 2));
    // The socket volume is shared.
    expect(bridge.volumes).toContain('php-socket:/run/php');
    expect(php.volumes).toContain('php-socket:/run/php');
  });
});

describe('deploy/fpm-bridge.service', () => {
  const unit = deploy('fpm-bridge.service');
  const execStart = /^ExecStart=((?:.*\\\n)*.*)$/m.exec(unit)![1]!.replace(/\\\n/g, ' ');

  it('passes flags the CLI accepts', () => {
    const [, ...args] = execStart.trim().split(/\s+/);
    expect(() => parseArgs(args)).not.toThrow();
  });

  it.skipIf(!hasSystemdAnalyze)('passes systemd-analyze verify and scores OK on its security check', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fpm-bridge-unit-'));
    try {
      // verify checks that ExecStart exists: point it at this checkout's command.
      const file = join(dir, 'fpm-bridge.service');
      writeFileSync(file, unit.replace('/opt/fpm-bridge/scripts/fpm-bridge', join(repo, 'scripts/fpm-bridge')));
      const verify = spawnSync('systemd-analyze', ['verify', file], { encoding: 'utf8' });
      expect(verify.stderr.trim()).toBe('');
      expect(verify.status).toBe(0);
      const security = execFileSync('systemd-analyze', ['security', '--offline=yes', '--no-pager', file], { encoding: 'utf8' });
      const exposure = Number(/Overall exposure level for fpm-bridge\.service: ([\d.]+)/.exec(security)?.[1]);
      // systemd's scale: 0-10, lower is better; below 2 is "OK", a service's best band short of "SAFE".
      expect(exposure).toBeLessThan(2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
