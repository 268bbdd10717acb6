// The server's signing key: an RSA key kept (sealed) in apisigningkeys, made at first use. It
// signs API keys and the ID tokens of the OIDC issuer; kid = `<name>.<uid>` of its object, so a
// key made anew after a deletion never verifies what the old one signed.
import { exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, importSPKI, type JWK } from 'jose';
import { staleStoredForm, StorageError, type Store } from '../../storage/interface.ts';
import { serverObject, type AuthState, type Snapshot } from './state.ts';
import { asStored, key, readStored } from './stored.ts';

export const signingKeyName = 'default';
export const signingAlgorithm = 'RS256';

type PrivateKey = Awaited<ReturnType<typeof importPKCS8>>;
type PublicKey = Awaited<ReturnType<typeof importSPKI>>;

export interface KeyPair {
  kid: string;
  privateKey: PrivateKey;
  publicKey: PublicKey;
}

export class SigningKeys {
  private keys: Promise<KeyPair> | undefined;
  private readonly publicKeys = new Map<string, { pem: string; key: Promise<PublicKey> }>();

  constructor(
    private readonly storage: Store,
    private readonly state: AuthState,
  ) {}

  /** The key that signs, made at first use; replicas racing to make it end up with the same one. */
  current(): Promise<KeyPair> {
    this.keys ??= this.loadOrCreate().catch(err => {
      this.keys = undefined;
      throw err;
    });
    return this.keys;
  }

  private async loadOrCreate(): Promise<KeyPair> {
    const objectKey = key('apisigningkeys', signingKeyName);
    let obj = await readStored(this.storage, 'apisigningkeys', signingKeyName);
    if (!obj) {
      const { privateKey, publicKey } = await generateKeyPair(signingAlgorithm, { modulusLength: 2048, extractable: true });
      const fresh = serverObject('APISigningKey', signingKeyName, {
        signingKey: Buffer.from(await exportPKCS8(privateKey)).toString('base64'),
        signingKeyPub: Buffer.from(await exportSPKI(publicKey)).toString('base64'),
      });
      try {
        obj = asStored('apisigningkeys', await this.storage.transact(tx => tx.create(objectKey, fresh)));
      } catch (err) {
        if (!(err instanceof StorageError && err.code === 'AlreadyExists')) throw err;
        obj = await readStored(this.storage, 'apisigningkeys', signingKeyName);
      }
      this.state.invalidate();
    }
    if (!obj) throw new Error('API signing key vanished');
    // Nobody may update this object, so the server re-seals it itself after a key rotation.
    if ((obj as { [staleStoredForm]?: boolean })[staleStoredForm]) {
      const current = obj;
      obj = await this.storage
        .transact(tx => tx.update(objectKey, current, current.metadata.resourceVersion))
        .then(
          o => asStored('apisigningkeys', o),
          () => current,
        );
    }
    const pem = (v: string | undefined) => Buffer.from(v ?? '', 'base64').toString('utf8');
    const kid = `${obj.metadata.name}.${obj.metadata.uid}`;
    return { kid, privateKey: await importPKCS8(pem(obj.signingKey), signingAlgorithm), publicKey: await importSPKI(pem(obj.signingKeyPub), signingAlgorithm) };
  }

  /** The public key of `kid`, if the snapshot holds that very key. */
  publicKey(snap: Snapshot, kid: string): Promise<PublicKey> | undefined {
    const dot = kid.indexOf('.');
    const obj = snap.objects.apisigningkeys.get(dot < 0 ? kid : kid.slice(0, dot));
    if (!obj || `${obj.metadata.name}.${obj.metadata.uid}` !== kid) return undefined;
    const pem = Buffer.from(obj.signingKeyPub ?? '', 'base64').toString('utf8');
    const cached = this.publicKeys.get(kid);
    if (cached && cached.pem === pem) return cached.key;
    const key = importSPKI(pem, signingAlgorithm);
    this.publicKeys.set(kid, { pem, key });
    return key;
  }

  /** Every public key, as a JWK Set (what relying parties verify ID tokens with). */
  async jwks(snap: Snapshot): Promise<{ keys: JWK[] }> {
    await this.current();
    const keys: JWK[] = [];
    for (const obj of snap.objects.apisigningkeys.values()) {
      const kid = `${obj.metadata.name}.${obj.metadata.uid}`;
      const key = this.publicKey(snap, kid);
      if (key) keys.push({ ...(await exportJWK(await key)), kid, use: 'sig', alg: signingAlgorithm });
    }
    return { keys };
  }
}
