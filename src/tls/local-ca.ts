import { createPrivateKey, webcrypto, X509Certificate as NodeX509 } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmdirSync, statSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { checkPrivateFile, ensurePrivateDir, TlsSetupError } from './config-dir.ts';

/**
 * The local certificate authority of `--https`, as mkcert and Symfony CLI keep one: made once per
 * user (ECDSA P-256, 10 years), and a leaf certificate for the local names signed by it, made again
 * when it nears its end, lacks a name asked for, or came from an older CA. Certificates are built by
 * @peculiar/x509 on Node's WebCrypto: no ASN.1 of ours.
 */

/** The names every leaf covers; `--host NAME` adds more. */
export const LOCAL_NAMES: readonly string[] = ['localhost', '*.localhost', '127.0.0.1', '::1'];

const CA_YEARS = 10;
/** Apple refuses TLS leaves valid longer than 825 days even from a user's own CA; a year is plenty. */
const LEAF_DAYS = 365;
/** A leaf with less than this left is made again at start. */
export const RENEW_BEFORE_MS = 30 * 24 * 3600_000;

const ALG: EcKeyGenParams & EcdsaParams = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
const subtle = webcrypto.subtle as unknown as SubtleCrypto;

type X509Lib = typeof import('@peculiar/x509');
let lib: Promise<X509Lib> | undefined;
/**
 * @peculiar/x509 (through tsyringe) needs the reflect-metadata polyfill on the global Reflect. It is
 * loaded only when a certificate is made (first --https start, renewal), not on every start, so an
 * app in this process normally never meets it.
 */
function x509Lib(): Promise<X509Lib> {
  lib ??= import('reflect-metadata').then(async () => {
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Crypto);
    return x509;
  });
  return lib;
}

export interface CaFiles {
  dir: string;
  caCert: string;
  caKey: string;
  leafCert: string;
  leafKey: string;
}

export function caFiles(dir: string): CaFiles {
  return { dir, caCert: join(dir, 'ca.pem'), caKey: join(dir, 'ca-key.pem'), leafCert: join(dir, 'localhost.pem'), leafKey: join(dir, 'localhost-key.pem') };
}

export interface ServerCredentials {
  /** PEM. */
  cert: string;
  key: string;
  /** The CA certificate (PEM), for `trust` and for clients. */
  ca: string;
  /** What was made this time, for the banner. */
  created: { ca: boolean; leaf: boolean };
  notAfter: Date;
}

/** The CA and a current leaf for `names` in `dir`, made or renewed as needed. */
export async function localCredentials(dir: string, extraNames: readonly string[] = [], now = new Date()): Promise<ServerCredentials> {
  ensurePrivateDir(dir);
  const files = caFiles(dir);
  const names = [...new Set([...LOCAL_NAMES, ...extraNames.map((n) => n.toLowerCase())])];
  return withLock(dir, async () => {
    let createdCa = false;
    if (!existsSync(files.caCert) || !existsSync(files.caKey)) {
      await createCa(files, now);
      createdCa = true;
    }
    checkPrivateFile(files.caKey);
    const caPem = readFileSync(files.caCert, 'latin1');
    const ca = new NodeX509(caPem);
    if (new Date(ca.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) {
      throw new TlsSetupError(`the local CA in ${dir} expires on ${ca.validTo}: run \`fpm-bridge untrust\`, remove ${files.caCert} and ${files.caKey}, start again with --https and run \`fpm-bridge trust\``);
    }
    let createdLeaf = false;
    if (createdCa || !leafIsCurrent(files, ca, names, now)) {
      await createLeaf(files, caPem, names, now);
      createdLeaf = true;
    }
    checkPrivateFile(files.leafKey);
    const cert = readFileSync(files.leafCert, 'latin1');
    return {
      cert,
      key: readFileSync(files.leafKey, 'latin1'),
      ca: caPem,
      created: { ca: createdCa, leaf: createdLeaf },
      notAfter: new Date(new NodeX509(cert).validTo),
    };
  });
}

function leafIsCurrent(files: CaFiles, ca: NodeX509, names: readonly string[], now: Date): boolean {
  if (!existsSync(files.leafCert) || !existsSync(files.leafKey)) return false;
  let leaf: NodeX509;
  try {
    leaf = new NodeX509(readFileSync(files.leafCert));
    if (!leaf.checkPrivateKey(createPrivateKey(readFileSync(files.leafKey)))) return false;
  } catch {
    return false;
  }
  if (!leaf.verify(ca.publicKey)) return false;
  if (new Date(leaf.validTo).getTime() - now.getTime() < RENEW_BEFORE_MS) return false;
  if (new Date(leaf.validFrom).getTime() > now.getTime()) return false;
  const has = new Set((leaf.subjectAltName ?? '').split(', ').map((s) => s.replace(/^(DNS|IP Address):/, '').toLowerCase()));
  return names.every((n) => has.has(isIP(n) === 6 ? expandV6(n) : n));
}

/** Node prints IPv6 SANs in full (`0:0:0:0:0:0:0:1`); compare in that form. */
function expandV6(addr: string): string {
  const [head, tail] = addr.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((p) => p.replace(/^0+(?=.)/, '').toLowerCase()).join(':');
}

async function createCa(files: CaFiles, now: Date): Promise<void> {
  const x509 = await x509Lib();
  const keys = (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const who = `${safeUser()}@${hostname()}`;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=fpm-bridge local CA ${who}, O=fpm-bridge development CA, OU=${who}`,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + CA_YEARS * 365 * 24 * 3600_000),
    signingAlgorithm: ALG,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await writeKeyAndCert(files.caKey, files.caCert, keys.privateKey, cert.toString('pem'));
}

async function createLeaf(files: CaFiles, caPem: string, names: readonly string[], now: Date): Promise<void> {
  const x509 = await x509Lib();
  const ca = new x509.X509Certificate(caPem);
  const caKey = await subtle.importKey('pkcs8', pemBody(readFileSync(files.caKey, 'latin1')), ALG, false, ['sign']);
  const keys = (await subtle.generateKey(ALG, true, ['sign', 'verify'])) as CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=localhost, O=fpm-bridge development certificate, OU=${safeUser()}@${hostname()}`,
    issuer: ca.subject,
    notBefore: new Date(now.getTime() - 3600_000),
    notAfter: new Date(now.getTime() + LEAF_DAYS * 24 * 3600_000),
    signingAlgorithm: ALG,
    publicKey: keys.publicKey,
    signingKey: caKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) ? { type: 'ip' as const, value: n } : { type: 'dns' as const, value: n }))),
      await x509.AuthorityKeyIdentifierExtension.create(ca, false),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  await writeKeyAndCert(files.leafKey, files.leafCert, keys.privateKey, cert.toString('pem'));
}

/** Key first, both through a temp file and rename: a reader sees old or new files, never half of one. */
async function writeKeyAndCert(keyFile: string, certFile: string, key: CryptoKey, certPem: string): Promise<void> {
  const pkcs8 = Buffer.from(await subtle.exportKey('pkcs8', key));
  const keyPem = `-----BEGIN PRIVATE KEY-----\n${pkcs8.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  atomicWrite(keyFile, keyPem, 0o600);
  atomicWrite(certFile, certPem.endsWith('\n') ? certPem : certPem + '\n', 0o644);
}

function atomicWrite(file: string, text: string, mode: number): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode, flag: 'wx' });
  renameSync(tmp, file);
}

function pemBody(pem: string): ArrayBuffer {
  const der = Buffer.from(pem.replace(/-----[^-]+-----|\s+/g, ''), 'base64');
  return der.buffer.slice(der.byteOffset, der.byteOffset + der.byteLength) as ArrayBuffer;
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive, as RFC 5280 4.1.2.2 wants
  return Buffer.from(bytes).toString('hex');
}

function safeUser(): string {
  try {
    return userInfo().username.replace(/[^A-Za-z0-9._-]/g, '_') || 'user';
  } catch {
    return 'user';
  }
}

/** Two bridges started at once must not both make a CA: a lock directory, taken over when stale. */
async function withLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = join(dir, '.lock');
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      mkdirSync(lock, { mode: 0o700 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let age = 0;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue;
      }
      if (age > 30_000 || Date.now() > deadline) {
        try {
          rmdirSync(lock);
        } catch {
          // someone else took it over
        }
        continue;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  try {
    return await fn();
  } finally {
    try {
      rmdirSync(lock);
    } catch {
      // already gone
    }
  }
}
