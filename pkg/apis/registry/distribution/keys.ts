// The key pair the token service signs registry tokens with. The engine trusts the certificate
// (its auth.token.rootcertbundle) and nothing else, so only tokens this server signed open it.
// Generated in <data-dir>/registry at first use, or given by flags (replicas share one pair).
import { createHash, createPublicKey, randomBytes, webcrypto } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { importPKCS8, type CryptoKey as JoseKey } from 'jose';
import { writeFileAtomic, x509 } from '../../../server/certs.ts';

export const tokenAlgorithm = 'ES256';
const subtleCrypto = webcrypto as unknown as Crypto;

export interface TokenSigningKey {
  privateKey: JoseKey;
  /** The key's ID as libtrust computes it: distribution finds the trusted key by this `kid`. */
  keyID: string;
  certPEM: string;
}

const base32Alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

function base32(bytes: Buffer): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += base32Alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += base32Alphabet[(value << (5 - bits)) & 31];
  return out;
}

/** libtrust's key ID: the first 240 bits of SHA-256 of the SubjectPublicKeyInfo, base32, in groups of four. */
export function libtrustKeyID(certPEM: string): string {
  const spki = createPublicKey(certPEM).export({ type: 'spki', format: 'der' });
  const encoded = base32(createHash('sha256').update(spki).digest().subarray(0, 30));
  return encoded.match(/.{4}/g)!.join(':');
}

async function generate(keyFile: string, certFile: string): Promise<void> {
  const alg = { name: 'ECDSA', namedCurve: 'P-256' };
  const keys = (await subtleCrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as CryptoKeyPair;
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      // Positive: the first bit clear.
      serialNumber: randomBytes(16)
        .toString('hex')
        .replace(/^[89a-f]/, '1'),
      name: 'CN=tke-apiserver registry token signer',
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 10 * 365 * 86_400_000),
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    },
    subtleCrypto,
  );
  const pkcs8 = Buffer.from(await subtleCrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const keyPEM = `-----BEGIN PRIVATE KEY-----\n${pkcs8.match(/.{1,64}/g)!.join('\n')}\n-----END PRIVATE KEY-----\n`;
  await mkdir(dirname(keyFile), { recursive: true, mode: 0o700 });
  await writeFileAtomic(keyFile, keyPEM, 0o600);
  await writeFileAtomic(certFile, cert.toString('pem') + '\n', 0o644);
}

/** Loads the pair, generating it first when `generated` and the files are missing. */
export async function loadTokenSigningKey(keyFile: string, certFile: string, generated: boolean): Promise<TokenSigningKey> {
  if (generated && !(existsSync(keyFile) && existsSync(certFile))) await generate(keyFile, certFile);
  const [keyPEM, certPEM] = await Promise.all([readFile(keyFile, 'utf8'), readFile(certFile, 'utf8')]);
  return { privateKey: await importPKCS8(keyPEM, tokenAlgorithm), keyID: libtrustKeyID(certPEM), certPEM };
}
