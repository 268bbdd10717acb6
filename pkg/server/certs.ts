// The server's PKI: a self-signed CA made at first start, the serving certificate it signs, and
// client certificates (tests, front-proxy set-ups, business namespace certificates).
//
// Other modules that need @peculiar/x509 should import `x509` from here: the library pulls in
// tsyringe, which refuses to load without the reflect-metadata polyfill, and this module loads
// it (and sets the node webcrypto provider) first.
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type * as X509 from '@peculiar/x509';

const require = createRequire(import.meta.url);
// Loaded after reflect-metadata on purpose: a static import could be evaluated before it.
export const x509 = require('@peculiar/x509') as typeof X509;

const crypto = webcrypto as unknown as Crypto;
x509.cryptoProvider.set(crypto);

const DAY_MS = 24 * 60 * 60 * 1000;
/** Certificates start a little in the past so clients with a slow clock accept them at once. */
const BACKDATE_MS = 5 * 60 * 1000;
const CA_VALID_DAYS = 3650;
const SERVING_VALID_DAYS = 365;
/** A serving certificate with less than this left is replaced at start. */
const SERVING_RENEW_BEFORE_MS = 30 * DAY_MS;

/** Names every serving certificate carries, so the in-cluster Service and local clients both verify it. */
export const DEFAULT_SERVING_DNS_NAMES = ['localhost', 'tke-apiserver', 'tke-apiserver.tke', 'tke-apiserver.tke.svc', 'tke-apiserver.tke.svc.cluster.local'];
export const DEFAULT_SERVING_IPS = ['127.0.0.1', '::1'];

export interface CertificateAuthority {
  certificate: X509.X509Certificate;
  certPEM: string;
  /** PKCS#8 PEM. */
  keyPEM: string;
  privateKey: CryptoKey;
  /** The WebCrypto algorithm used to sign with `privateKey`. */
  signingAlgorithm: Algorithm | EcdsaParams;
}

export interface IssuedCertificate {
  certPEM: string;
  /** PKCS#8 PEM. */
  keyPEM: string;
}

export interface ClientCertificateRequest {
  commonName: string;
  /** Become the user's groups when the server authenticates the certificate. */
  organizations?: string[];
  validDays?: number;
}

export interface ServingCertificateRequest {
  commonName: string;
  dnsNames: string[];
  ipAddresses: string[];
  validDays?: number;
}

export interface ServingCertificates {
  /** Files, for callers that configure TLS from paths. */
  caFile: string;
  certFile: string;
  keyFile: string;
  caPEM: string;
  certPEM: string;
  keyPEM: string;
  ca: CertificateAuthority;
  /** True when this call wrote a new serving certificate. */
  renewed: boolean;
}

// ---------------------------------------------------------------------------------------------
// Keys

const EC_P256: EcKeyGenParams = { name: 'ECDSA', namedCurve: 'P-256' };
const EC_P256_SIGN: EcdsaParams = { name: 'ECDSA', hash: 'SHA-256' };

async function generateKeyPair(): Promise<CryptoKeyPair> {
  return crypto.subtle.generateKey(EC_P256, true, ['sign', 'verify']);
}

async function privateKeyPEM(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey('pkcs8', key);
  return x509.PemConverter.encode(der, 'PRIVATE KEY');
}

const NODE_CURVE_TO_WEBCRYPTO: Record<string, { curve: string; hash: string }> = {
  prime256v1: { curve: 'P-256', hash: 'SHA-256' },
  secp384r1: { curve: 'P-384', hash: 'SHA-384' },
  secp521r1: { curve: 'P-521', hash: 'SHA-512' },
};

/**
 * Imports a signing key from any PEM node understands (PKCS#8, SEC1 "EC PRIVATE KEY", PKCS#1
 * "RSA PRIVATE KEY"), because operators bring CA keys made by openssl, cfssl or kubeadm.
 */
async function importSigningKey(pem: string): Promise<{ key: CryptoKey; signingAlgorithm: Algorithm | EcdsaParams; pkcs8PEM: string }> {
  const keyObject = createPrivateKey(pem);
  const der = keyObject.export({ type: 'pkcs8', format: 'der' });
  const pkcs8PEM = x509.PemConverter.encode(new Uint8Array(der), 'PRIVATE KEY');
  const type = keyObject.asymmetricKeyType;
  if (type === 'ec') {
    const curve = NODE_CURVE_TO_WEBCRYPTO[keyObject.asymmetricKeyDetails?.namedCurve ?? ''];
    if (!curve) throw new Error(`unsupported EC curve ${keyObject.asymmetricKeyDetails?.namedCurve}`);
    const key = await crypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: curve.curve }, true, ['sign']);
    return { key, signingAlgorithm: { name: 'ECDSA', hash: curve.hash } as EcdsaParams, pkcs8PEM };
  }
  if (type === 'rsa') {
    const alg: RsaHashedImportParams = { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
    const key = await crypto.subtle.importKey('pkcs8', der, alg, true, ['sign']);
    return { key, signingAlgorithm: alg, pkcs8PEM };
  }
  throw new Error(`unsupported CA key type ${type}`);
}

// ---------------------------------------------------------------------------------------------
// Certificates

/** A positive 128-bit serial: RFC 5280 wants positive and unpredictable serials. */
function randomSerial(): string {
  const b = randomBytes(16);
  b[0] &= 0x7f;
  if (b[0] === 0) b[0] = 0x01;
  return b.toString('hex');
}

function validity(days: number, now = Date.now()): { notBefore: Date; notAfter: Date } {
  return { notBefore: new Date(now - BACKDATE_MS), notAfter: new Date(now + days * DAY_MS) };
}

/** Creates a self-signed CA (ECDSA P-256, ten years by default). Nothing is written to disk. */
export async function createCA(name: string, opts: { validDays?: number } = {}): Promise<CertificateAuthority> {
  const keys = await generateKeyPair();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: randomSerial(),
      name: [{ CN: [name] }],
      keys,
      signingAlgorithm: EC_P256_SIGN,
      ...validity(opts.validDays ?? CA_VALID_DAYS),
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return {
    certificate,
    certPEM: certificate.toString('pem') + '\n',
    keyPEM: await privateKeyPEM(keys.privateKey),
    privateKey: keys.privateKey,
    signingAlgorithm: EC_P256_SIGN,
  };
}

/** Loads a CA from PEM text (certificate first in `certPEM` if it is a bundle). */
export async function caFromPEM(certPEM: string, keyPEM: string): Promise<CertificateAuthority> {
  const certificate = new x509.X509Certificate(firstPEMBlock(certPEM, 'CERTIFICATE'));
  const { key, signingAlgorithm, pkcs8PEM } = await importSigningKey(keyPEM);
  return { certificate, certPEM, keyPEM: pkcs8PEM, privateKey: key, signingAlgorithm };
}

/**
 * Loads `ca.crt` and `ca.key` from `dir`. `dir` may be the pki directory itself or a data
 * directory holding `pki/`, so callers need not know the layout.
 */
export async function loadCA(dir: string): Promise<CertificateAuthority> {
  const base = existsSync(path.join(dir, 'ca.crt')) ? dir : path.join(dir, 'pki');
  const [certPEM, keyPEM] = await Promise.all([readFile(path.join(base, 'ca.crt'), 'utf8'), readFile(path.join(base, 'ca.key'), 'utf8')]);
  return caFromPEM(certPEM, keyPEM);
}

/** Writes `ca.crt` (0644) and `ca.key` (0600) into `dir`. */
export async function saveCA(dir: string, ca: CertificateAuthority): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await writeFileAtomic(path.join(dir, 'ca.key'), ca.keyPEM, 0o600);
  await writeFileAtomic(path.join(dir, 'ca.crt'), ca.certPEM, 0o644);
}

async function authorityKeyId(ca: CertificateAuthority): Promise<X509.AuthorityKeyIdentifierExtension> {
  const ski = ca.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  if (ski) return new x509.AuthorityKeyIdentifierExtension(ski.keyId);
  return x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey, false, crypto);
}

async function issue(ca: CertificateAuthority, subject: X509.JsonName, days: number, extensions: X509.Extension[]): Promise<IssuedCertificate> {
  const keys = await generateKeyPair();
  const cert = await x509.X509CertificateGenerator.create(
    {
      serialNumber: randomSerial(),
      subject,
      issuer: ca.certificate.subjectName,
      publicKey: keys.publicKey,
      signingKey: ca.privateKey,
      signingAlgorithm: ca.signingAlgorithm,
      ...validity(days),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        ...extensions,
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
        await authorityKeyId(ca),
      ],
    },
    crypto,
  );
  return { certPEM: cert.toString('pem') + '\n', keyPEM: await privateKeyPEM(keys.privateKey) };
}

/**
 * Issues a client certificate: CN = user name, O = groups (the Kubernetes x509 convention),
 * extended key usage clientAuth. One year unless `validDays` says otherwise.
 */
export async function issueClientCertificate(ca: CertificateAuthority, req: ClientCertificateRequest): Promise<IssuedCertificate> {
  const subject: X509.JsonName = [...(req.organizations ?? []).map(o => ({ O: [o] })), { CN: [req.commonName] }];
  return issue(ca, subject, req.validDays ?? 365, [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth]),
  ]);
}

/** Issues a TLS server certificate for the given DNS names and IP addresses. */
export async function issueServingCertificate(ca: CertificateAuthority, req: ServingCertificateRequest): Promise<IssuedCertificate> {
  const names: X509.JsonGeneralNames = [
    ...unique(req.dnsNames).map(value => ({ type: 'dns' as const, value })),
    ...unique(req.ipAddresses).map(value => ({ type: 'ip' as const, value })),
  ];
  return issue(ca, [{ CN: [req.commonName] }], req.validDays ?? SERVING_VALID_DAYS, [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    new x509.SubjectAlternativeNameExtension(names),
  ]);
}

// ---------------------------------------------------------------------------------------------
// The data directory

/** The SANs the serving certificate must carry for this bind address and these extra names. */
export function servingSANs(bindAddress: string, extraSANs: string[] = []): { dnsNames: string[]; ipAddresses: string[] } {
  const dnsNames = [...DEFAULT_SERVING_DNS_NAMES];
  const ipAddresses = [...DEFAULT_SERVING_IPS];
  const add = (name: string) => {
    const n = name.trim();
    if (!n) return;
    if (isIP(n)) ipAddresses.push(normalizeIP(n));
    else dnsNames.push(n.toLowerCase());
  };
  // A wildcard bind address names no interface; clients dial a concrete one, covered above.
  if (bindAddress && bindAddress !== '0.0.0.0' && bindAddress !== '::') add(bindAddress);
  const host = os.hostname();
  if (/^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?$/.test(host)) add(host);
  for (const s of extraSANs) add(s);
  return { dnsNames: unique(dnsNames), ipAddresses: unique(ipAddresses) };
}

/**
 * Makes sure `<dataDir>/pki` holds a CA and a serving certificate signed by it that covers the
 * required SANs and is not about to expire; creates or renews what is missing. The CA is never
 * replaced once it exists, because kubeconfigs handed out earlier pin it.
 */
export async function ensureServingCertificates(dataDir: string, opts: { bindAddress: string; extraSANs?: string[] }): Promise<ServingCertificates> {
  const dir = path.join(dataDir, 'pki');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caFile = path.join(dir, 'ca.crt');
  const caKeyFile = path.join(dir, 'ca.key');
  const certFile = path.join(dir, 'apiserver.crt');
  const keyFile = path.join(dir, 'apiserver.key');

  let ca: CertificateAuthority;
  if (existsSync(caFile) && existsSync(caKeyFile)) {
    ca = await loadCA(dir);
  } else {
    ca = await createCA(`tke-apiserver-ca@${Math.floor(Date.now() / 1000)}`);
    await saveCA(dir, ca);
  }

  const sans = servingSANs(opts.bindAddress, opts.extraSANs);
  if (existsSync(certFile) && existsSync(keyFile)) {
    const [certPEM, keyPEM] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
    if (await servingCertificateUsable(certPEM, keyPEM, ca, sans)) {
      return { caFile, certFile, keyFile, caPEM: ca.certPEM, certPEM, keyPEM, ca, renewed: false };
    }
  }

  const issued = await issueServingCertificate(ca, { commonName: 'tke-apiserver', ...sans });
  await writeFileAtomic(keyFile, issued.keyPEM, 0o600);
  await writeFileAtomic(certFile, issued.certPEM, 0o644);
  return { caFile, certFile, keyFile, caPEM: ca.certPEM, certPEM: issued.certPEM, keyPEM: issued.keyPEM, ca, renewed: true };
}

async function servingCertificateUsable(
  certPEM: string,
  keyPEM: string,
  ca: CertificateAuthority,
  sans: { dnsNames: string[]; ipAddresses: string[] },
): Promise<boolean> {
  try {
    const cert = new x509.X509Certificate(firstPEMBlock(certPEM, 'CERTIFICATE'));
    if (cert.notAfter.getTime() - Date.now() < SERVING_RENEW_BEFORE_MS) return false;
    if (cert.notBefore.getTime() > Date.now() + BACKDATE_MS) return false;
    if (!(await cert.verify({ publicKey: ca.certificate.publicKey, signatureOnly: true }, crypto))) return false;
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const have = new Set((san?.names.toJSON() ?? []).map(n => `${n.type}:${n.type === 'ip' ? normalizeIP(n.value) : n.value.toLowerCase()}`));
    for (const d of sans.dnsNames) if (!have.has(`dns:${d}`)) return false;
    for (const ip of sans.ipAddresses) if (!have.has(`ip:${ip}`)) return false;
    // A key that does not belong to the certificate would only fail later, inside the TLS stack.
    const pub = cert.publicKey.rawData;
    const fromKey = createPublicKey(createPrivateKey(keyPEM)).export({ type: 'spki', format: 'der' });
    return Buffer.from(pub).equals(fromKey);
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/** Writes through a temp file and rename, so a crash never leaves half a key behind. */
export async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data, { mode, flag: 'wx' });
  await rename(tmp, file);
}

function firstPEMBlock(pem: string, label: string): string {
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]*?-----END ${label}-----`);
  const m = re.exec(pem);
  if (!m) throw new Error(`no ${label} PEM block found`);
  return m[0];
}

/** Splits a PEM bundle into its certificate blocks. */
export function splitPEMCertificates(pem: string): string[] {
  return pem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
}

function normalizeIP(ip: string): string {
  if (isIP(ip) !== 6) return ip;
  // Canonical form so "::1" and "0:0:0:0:0:0:0:1" compare equal.
  return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}
