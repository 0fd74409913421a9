import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** `--cert`/`--key` that cannot be used: the CLI prints it, naming the file, and exits 2. */
export class CertFileError extends Error {
  override name = 'CertFileError';
}

/**
 * A certificate of your own (`--cert FILE --key FILE`): both read, parsed and checked to belong
 * together now, so a wrong file fails at start naming itself, not at the first handshake.
 * The cert file may hold the chain (leaf first), as nginx's ssl_certificate does.
 */
export function loadCertFiles(certFile: string, keyFile: string): { cert: string; key: string } {
  const cert = readOrFail('--cert', certFile);
  const key = readOrFail('--key', keyFile);
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(cert);
  } catch {
    throw new CertFileError(`--cert ${certFile}: not a PEM certificate (want -----BEGIN CERTIFICATE-----)`);
  }
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(key);
  } catch (err) {
    const encrypted = /ENCRYPTED/.test(key) ? ' (it is encrypted: give an unencrypted key, e.g. openssl pkey -in it -out key.pem)' : '';
    throw new CertFileError(`--key ${keyFile}: not a PEM private key${encrypted}: ${(err as Error).message}`);
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new CertFileError(`--key ${keyFile} does not match the certificate in --cert ${certFile} (the first certificate there must be the one this key signs for)`);
  }
  return { cert, key };
}

function readOrFail(flag: string, file: string): string {
  try {
    return readFileSync(file, 'latin1');
  } catch (err) {
    throw new CertFileError(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
