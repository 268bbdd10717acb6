import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { secretFieldsOf } from '../../pkg/rest/resource.ts';
import { servedKinds } from '../support/groups.ts';
import { staleStoredForm } from '../../pkg/storage/interface.ts';
import { ensureEncryptionKeyFile, FieldEncryption, loadEncryptionKeys } from '../../pkg/storage/encryption.ts';
import type { TSchema } from '@sinclair/typebox';

const where = { group: 'platform.tkestack.io', resource: 'clusters' };
const fields = { 'platform.tkestack.io/clusters': ['spec.machines[].password', 'spec.machines[].proxy.privateKey', 'spec.token'] };
const key1 = { name: 'k1', secret: randomBytes(32) };
const key2 = { name: 'k2', secret: randomBytes(32) };

function cluster(name = 'cls-a') {
  return {
    metadata: { name },
    spec: {
      token: 't0ken',
      machines: [
        { ip: '10.0.0.1', password: 'pw-one', proxy: { privateKey: 'PEM' } },
        { ip: '10.0.0.2', password: 'pw-two' },
      ],
      displayName: 'x',
    },
  };
}

describe('unit: encryption of secret fields at rest', () => {
  it('seals every secret field, leaves the rest and the input alone, and opens them again', () => {
    const enc = new FieldEncryption([key1], fields);
    const plain = cluster();
    const sealed = enc.seal(where, plain);
    assert.equal(plain.spec.machines[0].password, 'pw-one', "the caller's object is not changed");
    const m = sealed.spec!.machines as any[];
    for (const v of [m[0].password, m[1].password, m[0].proxy.privateKey, sealed.spec!.token]) assert.match(String(v), /^enc:aesgcm:v1:k1:/);
    assert.equal(m[0].ip, '10.0.0.1');
    assert.equal(sealed.spec!.displayName, 'x');
    assert.ok(!JSON.stringify(sealed).includes('pw-one'));
    assert.deepEqual(enc.open(where, structuredClone(sealed)), plain);
    assert.notEqual(enc.seal(where, plain).spec!.token, sealed.spec!.token, 'a fresh nonce every time');
  });

  it("seals a client's value that merely looks sealed, and gives it back as written", () => {
    const enc = new FieldEncryption([key1], fields);
    const tricky = { metadata: { name: 'cls-a' }, spec: { token: 'enc:aesgcm:v1:nobody:AAAA' } };
    const sealed = enc.seal(where, tricky);
    assert.notEqual(sealed.spec!.token, tricky.spec.token);
    assert.deepEqual(enc.open(where, sealed), tricky);
  });

  it('leaves kinds without secret fields untouched and reads values stored before encryption', () => {
    const enc = new FieldEncryption([key1], fields);
    const other = { metadata: { name: 'p' }, spec: { token: 'x' } };
    assert.equal(enc.seal({ group: 'business.tkestack.io', resource: 'projects' }, other), other);
    assert.deepEqual(enc.open(where, cluster()), cluster());
  });

  it('refuses a value moved to another object, an altered value and an unknown key', () => {
    const enc = new FieldEncryption([key1], fields);
    const sealed = enc.seal(where, cluster());
    const moved = { ...structuredClone(sealed), metadata: { name: 'cls-b' } };
    assert.throws(() => enc.open(where, moved), /does not open/);
    const altered = structuredClone(sealed) as any;
    altered.spec.token = altered.spec.token.slice(0, -6) + (altered.spec.token.endsWith('AAAA==') ? 'BBBB==' : 'AAAA==');
    assert.throws(() => enc.open(where, altered), /does not open/);
    assert.throws(() => new FieldEncryption([key2], fields).open(where, structuredClone(sealed)), /encryption key "k1", which this server was not given/);
  });

  it('rotates: the first key seals, the others still open', () => {
    const old = new FieldEncryption([key1], fields).seal(where, cluster());
    const rotated = new FieldEncryption([key2, key1], fields);
    const opened = rotated.open(where, structuredClone(old));
    assert.deepEqual(opened, cluster());
    assert.equal((opened as any)[staleStoredForm], true, 'sealed by an old key: to be written again');
    const fresh = rotated.seal(where, cluster());
    assert.match(String(fresh.spec!.token), /^enc:aesgcm:v1:k2:/);
    assert.equal((rotated.open(where, fresh) as any)[staleStoredForm], undefined);
    assert.equal((rotated.open(where, cluster()) as any)[staleStoredForm], true, 'stored in plain text: to be written again');
  });

  it('reads and makes key files', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'enc-'));
    try {
      const file = path.join(dir, 'sub', 'encryption.key');
      const keys = await ensureEncryptionKeyFile(file);
      assert.equal(keys.length, 1);
      assert.equal(keys[0].secret.length, 32);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.deepEqual(await ensureEncryptionKeyFile(file), keys, 'an existing file is kept');
      writeFileSync(file, `# comment\nnew ${key2.secret.toString('base64')}\n\n${readFileSync(file, 'utf8')}`);
      assert.deepEqual(
        (await loadEncryptionKeys(file)).map(k => k.name),
        ['new', keys[0].name],
      );
      writeFileSync(file, 'short c2hvcnQ=\n');
      await assert.rejects(loadEncryptionKeys(file), /must be 32 bytes/);
      writeFileSync(file, '# nothing\n');
      await assert.rejects(loadEncryptionKeys(file), /no encryption key/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("every declared secret field is a string field of its kind's schema", () => {
    const defs = servedKinds();
    const declared = secretFieldsOf(defs);
    assert.ok(Object.keys(declared).length >= 5, JSON.stringify(Object.keys(declared)));
    for (const def of defs) {
      for (const p of def.secretFields ?? []) {
        // Field() wraps a described schema in a one-element allOf.
        const unwrap = (n: TSchema | undefined): TSchema | undefined => (n?.allOf?.length === 1 ? unwrap(n.allOf[0]) : n);
        let node: TSchema | undefined = def.schema;
        for (const step of p.split('.')) {
          const each = step.endsWith('[]');
          node = unwrap(unwrap(node)?.properties?.[each ? step.slice(0, -2) : step]);
          if (each) node = unwrap(node?.items);
        }
        assert.equal(node?.type, 'string', `${def.resource}: ${p}`);
      }
    }
  });
});
