import { existsSync } from 'node:fs';
import { configDir, TlsSetupError } from '../tls/config-dir.ts';
import { caFiles, localCredentials } from '../tls/local-ca.ts';
import { systemTrustEnv, trust, untrust, type TrustEnv } from '../tls/trust-store.ts';

/**
 * `fpm-bridge trust` / `fpm-bridge untrust`: install or remove the local CA (made first if missing).
 * Exit 0 when every store was handled, 1 when steps are left to the user (printed), as scripts expect.
 */
export async function trustCommand(which: 'trust' | 'untrust', out: NodeJS.WritableStream = process.stdout, env: TrustEnv = systemTrustEnv(), dir = configDir()): Promise<number> {
  const files = caFiles(dir);
  try {
    if (which === 'trust' && !existsSync(files.caCert)) {
      await localCredentials(dir);
      out.write(`made a local CA in ${dir}\n`);
    }
    const report = which === 'trust' ? trust(files.caCert, env) : untrust(files.caCert, env);
    out.write(`fpm-bridge ${which}: local CA ${files.caCert}\n`);
    for (const line of report.done) out.write(`  done: ${line}\n`);
    if (report.manual.length > 0) {
      out.write(which === 'trust' ? '  left for you to run (then restart the browser):\n' : '  left for you to run:\n');
      for (const line of report.manual) out.write(`    ${line}\n`);
      return 1;
    }
    if (which === 'trust') out.write('  restart the browser to pick it up\n');
    return 0;
  } catch (err) {
    if (err instanceof TlsSetupError) {
      out.write(`fpm-bridge ${which}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}
