// Encryption at rest of the fields that hold secrets (passwords, private keys, connector
// configurations): the store seals them on the way into PostgreSQL and opens them on the way
// out, so a dump or a backup of the database holds no usable secret while every layer above
// works with plain values. This is Kubernetes' encryption at rest done per field instead of per
// object, so the rest of a row stays readable to SQL (selectors, indexes, paging).
//
// A sealed value is `enc:aesgcm:v1:<key name>:<base64 of nonce | ciphertext | tag>` (AES-256-GCM,
// node:crypto). The object's key and the field's path are authenticated with it, so a sealed
// value copied into another object or field does not open.
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { open as openFile, readFile, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { KubeObject } from '../../api/meta/v1/types.ts';
import { staleStoredForm } from './interface.ts';
import { parseFieldPath, visitField } from './fieldpath.ts';
import { withTransaction } from './postgres/transaction.ts';

const prefix = 'enc:aesgcm:v1:';
const nonceBytes = 12;
const tagBytes = 16;
const keyBytes = 32;

export interface EncryptionKey {
  name: string;
  secret: Buffer;
}

/**
 * The secret fields of each resource, keyed `<group>/<resource>`: dot-separated paths where a
 * `[]` suffix steps into every element of an array (`spec.machines[].password`).
 */
export type SecretFields = Record<string, string[]>;

interface Where {
  group: string;
  resource: string;
}

export class FieldEncryption {
  private readonly secrets = new Map<string, Buffer>();
  private readonly paths = new Map<string, string[][]>();

  /** `keys[0]` seals; every key opens (so a new key can be put first while old values remain). */
  constructor(
    readonly keys: EncryptionKey[],
    fields: SecretFields = {},
  ) {
    if (!keys.length) throw new Error('encryption needs at least one key');
    for (const k of keys) {
      if (k.secret.length !== keyBytes) throw new Error(`encryption key "${k.name}" must be ${keyBytes} bytes, not ${k.secret.length}`);
      if (this.secrets.has(k.name)) throw new Error(`encryption key "${k.name}" is given twice`);
      this.secrets.set(k.name, k.secret);
    }
    this.addSecretFields(fields);
  }

  /** More resources with secret fields: the server's API groups name theirs once built. */
  addSecretFields(fields: SecretFields): void {
    for (const [resource, list] of Object.entries(fields)) if (list.length) this.paths.set(resource, list.map(parseFieldPath));
  }

  /** A copy of `obj` with its secret fields sealed; `obj` itself when its resource has none. */
  seal(where: Where, obj: KubeObject): KubeObject {
    const paths = this.paths.get(`${where.group}/${where.resource}`);
    if (!paths) return obj;
    const copy = structuredClone(obj);
    for (const p of paths) {
      visitField(copy, p, (holder, field) => {
        const v = holder[field];
        // Even a value that looks sealed is sealed again: it is a client's text, and taking it as
        // sealed would let a client store a value nobody can open.
        if (typeof v === 'string' && v !== '') holder[field] = this.sealValue(v, context(where, copy, p));
      });
    }
    return copy;
  }

  /**
   * Opens the sealed fields of an object read from the database, in place, and marks it
   * `staleStoredForm` when a secret was stored in plain text or sealed by a key that is not the
   * first any more.
   */
  open(where: Where, obj: KubeObject): KubeObject {
    const paths = this.paths.get(`${where.group}/${where.resource}`);
    if (!paths || !obj || typeof obj !== 'object') return obj;
    const current = `${prefix}${this.keys[0].name}:`;
    let stale = false;
    for (const p of paths) {
      visitField(obj, p, (holder, field) => {
        const v = holder[field];
        if (typeof v !== 'string' || v === '') return;
        if (!v.startsWith(current)) stale = true;
        if (v.startsWith(prefix)) holder[field] = this.openValue(v, context(where, obj, p));
      });
    }
    if (stale) Object.defineProperty(obj, staleStoredForm, { value: true, enumerable: false });
    return obj;
  }

  sealValue(plain: string, aad: string): string {
    const key = this.keys[0];
    const nonce = randomBytes(nonceBytes);
    const cipher = createCipheriv('aes-256-gcm', key.secret, nonce);
    cipher.setAAD(Buffer.from(aad, 'utf8'));
    const body = Buffer.concat([nonce, cipher.update(plain, 'utf8'), cipher.final(), cipher.getAuthTag()]);
    return `${prefix}${key.name}:${body.toString('base64')}`;
  }

  openValue(sealed: string, aad: string): string {
    const rest = sealed.slice(prefix.length);
    const colon = rest.indexOf(':');
    const name = rest.slice(0, colon);
    const secret = this.secrets.get(name);
    if (colon < 0 || !secret) {
      throw new Error(`a value in the database is sealed with encryption key "${name}", which this server was not given (see --encryption-key-file)`);
    }
    const body = Buffer.from(rest.slice(colon + 1), 'base64');
    try {
      const decipher = createDecipheriv('aes-256-gcm', secret, body.subarray(0, nonceBytes));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(body.subarray(body.length - tagBytes));
      return Buffer.concat([decipher.update(body.subarray(nonceBytes, body.length - tagBytes)), decipher.final()]).toString('utf8');
    } catch {
      throw new Error(
        `a value in the database sealed with encryption key "${name}" does not open: the key differs from the one it was sealed with, or the value was altered`,
      );
    }
  }

  /**
   * Makes sure this server's keys are the database's: a key name the database has seen must
   * come with the same secret, and a database holding keys must share at least one with this
   * server (two replicas that each made their own key would otherwise not read each other's
   * writes). Then records the sealing key. Runs once at start-up.
   */
  async verifyAgainst(pool: pg.Pool): Promise<void> {
    await withTransaction(pool, async client => {
      await client.query('LOCK TABLE encryption_keys IN EXCLUSIVE MODE');
      const known = (await client.query<{ name: string; probe: string }>('SELECT name, probe FROM encryption_keys')).rows;
      for (const row of known) {
        if (!this.secrets.has(row.name)) continue;
        try {
          this.openValue(row.probe, probeContext);
        } catch {
          throw new Error(`encryption key "${row.name}" is not the key of that name this database was written with`);
        }
      }
      if (known.length && !known.some(r => this.secrets.has(r.name))) {
        throw new Error(
          `the database's secrets are sealed with encryption keys ${known.map(r => `"${r.name}"`).join(', ')}, none of which this server was given; give every replica the same --encryption-key-file`,
        );
      }
      const primary = this.keys[0].name;
      if (!known.some(r => r.name === primary)) {
        await client.query('INSERT INTO encryption_keys (name, probe) VALUES ($1, $2)', [primary, this.sealValue(primary, probeContext)]);
      }
    });
  }
}

const probeContext = 'encryption-key-probe';

function context(where: Where, obj: KubeObject, path: string[]): string {
  return `${where.group}/${where.resource}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}:${path.join('.')}`;
}

/**
 * Reads a key file: one key a line, `<name> <base64 of 32 bytes>`, the first one sealing; blank
 * lines and `#` comments are skipped.
 */
export async function loadEncryptionKeys(file: string): Promise<EncryptionKey[]> {
  const keys: EncryptionKey[] = [];
  const lines = (await readFile(file, 'utf8')).split('\n');
  lines.forEach((line, i) => {
    const text = line.trim();
    if (!text || text.startsWith('#')) return;
    const m = /^([A-Za-z0-9][A-Za-z0-9._-]{0,62})\s+([A-Za-z0-9+/]+={0,2})$/.exec(text);
    if (!m) throw new Error(`${file}:${i + 1}: expected "<name> <base64 key>"`);
    const secret = Buffer.from(m[2], 'base64');
    if (secret.length !== keyBytes) throw new Error(`${file}:${i + 1}: the key must be ${keyBytes} bytes (base64 of 32 random bytes)`);
    keys.push({ name: m[1], secret });
  });
  if (!keys.length) throw new Error(`${file}: no encryption key in the file`);
  return keys;
}

/** Creates `file` (0600) with one fresh key unless it exists; returns its keys either way. */
export async function ensureEncryptionKeyFile(file: string): Promise<EncryptionKey[]> {
  await mkdir(path.dirname(file), { recursive: true });
  const secret = randomBytes(keyBytes);
  const name = `key-${createHash('sha256').update(secret).digest('hex').slice(0, 12)}`;
  try {
    const fh = await openFile(file, 'wx', 0o600);
    try {
      await fh.writeFile(
        `# Seals secret fields in the database. Keep it safe: without it they cannot be read.\n${name} ${secret.toString('base64')}\n`,
        'utf8',
      );
    } finally {
      await fh.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  return loadEncryptionKeys(file);
}
