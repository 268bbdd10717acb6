// The engine's notifications (distribution's events), turned into Repository and Namespace
// status as TKE's notification handler does: a manifest push adds or updates the tag, a manifest
// pull counts one pull (not HEAD requests, nor the engine's own client), and a manifest delete
// removes the tags that named it. Only the engine knows the secret the endpoint requires.
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { KubeObject } from '../../../../api/meta/v1/types.ts';
import { StatusError } from '../../../rest/errors.ts';
import type { RegistryStore } from '../../../rest/store.ts';
import { controllerContext } from '../../business/controllers/reconcile.ts';
import { registryGroup } from '../rules.ts';
import { asNamespace, asRepository, type StoredNamespace } from '../stored.ts';
import { findNamespace, findRepository, type RegistryObjects } from './access.ts';
import { notificationSecretHeader, ownUserAgent } from './engine.ts';
import { parseEngineName, type ImageName } from './names.ts';

const maxBodyBytes = 4 * 1024 * 1024;
const manifestMediaType = /^application\/(vnd\.docker\.distribution\.manifest\.v\d\+(json|prettyjws)|vnd\.oci\.image\.(manifest|index)\.v1\+json)$/;
const conflictRetries = 8;

interface RegistryEvent {
  action?: string;
  target?: { mediaType?: string; repository?: string; digest?: string; tag?: string };
  request?: { method?: string; useragent?: string };
}

export interface NotificationDeps {
  stores: RegistryObjects;
  secret(): Promise<string>;
  logger: Logger;
}

function sameSecret(given: string, want: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(want);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Re-reads and rewrites the object's status until no concurrent writer got there first. `change`
 * gets a copy of the object, as `as` reads it, and answers its new status, or undefined for none.
 */
async function updateStatus<T extends KubeObject>(
  store: RegistryStore,
  as: (obj: KubeObject) => T,
  namespace: string,
  name: string,
  change: (current: T) => T['status'] | undefined,
): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    const obj = await store.get(controllerContext(namespace), name);
    const status = change(as(structuredClone(obj)));
    if (!status) return;
    try {
      await store.update(controllerContext(namespace, 'status'), name, { metadata: { name, resourceVersion: obj.metadata.resourceVersion }, status }, {});
      return;
    } catch (err) {
      if (!(err instanceof StatusError && err.reason === 'Conflict') || attempt >= conflictRetries) throw err;
    }
  }
}

export class NotificationReceiver {
  constructor(private readonly deps: NotificationDeps) {}

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const answer = (status: number, message: string) => {
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(message);
    };
    try {
      if (req.method !== 'POST') {
        answer(405, 'notifications are POSTed');
        return;
      }
      const given = String(req.headers[notificationSecretHeader.toLowerCase()] ?? '');
      if (!given || !sameSecret(given, await this.deps.secret())) {
        answer(401, 'not the registry engine');
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > maxBodyBytes) {
          answer(413, 'too large');
          return;
        }
        chunks.push(chunk as Buffer);
      }
      let events: RegistryEvent[];
      try {
        const doc = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events?: unknown };
        events = Array.isArray(doc.events) ? (doc.events as RegistryEvent[]) : [];
      } catch {
        answer(400, 'not an event envelope');
        return;
      }
      for (const event of events) {
        try {
          await this.apply(event);
        } catch (err) {
          // One event about an object that is gone must not make the engine resend the others forever.
          this.deps.logger.warn({ err, action: event.action, repository: event.target?.repository }, 'registry event not applied');
        }
      }
      answer(200, 'ok');
    } catch (err) {
      this.deps.logger.error({ err }, 'registry notification failed');
      if (!res.headersSent) answer(500, 'failed');
    }
  }

  private async apply(event: RegistryEvent): Promise<void> {
    const target = event.target ?? {};
    const image = parseEngineName(String(target.repository ?? ''));
    if (!image) return;
    const isManifest = manifestMediaType.test(String(target.mediaType ?? ''));
    if (event.action === 'push' && isManifest && target.tag && target.digest) {
      await this.pushed(image, target.tag, target.digest);
    } else if (
      event.action === 'pull' &&
      isManifest &&
      event.request?.method === 'GET' &&
      String(event.request?.useragent ?? '')
        .trim()
        .toLowerCase() !== ownUserAgent
    ) {
      await this.pulled(image);
    } else if (event.action === 'delete' && target.digest) {
      await this.deleted(image, target.digest);
    }
  }

  private async pushed(image: ImageName, tag: string, digest: string): Promise<void> {
    const { namespaces, repositories } = this.deps.stores;
    const namespace = await findNamespace(this.deps.stores, image.tenant, image.namespace);
    // The token service grants no push into a namespace that does not exist; it was deleted since.
    if (!namespace) return;
    const nsName = namespace.metadata.name!;
    let repository = await findRepository(this.deps.stores, namespace, image.repo);
    if (!repository) {
      try {
        repository = asRepository(
          (
            await repositories().create(
              controllerContext(nsName),
              {
                apiVersion: `${registryGroup}/v1`,
                kind: 'Repository',
                metadata: { generateName: 'repo-', namespace: nsName },
                spec: { name: image.repo, tenantID: image.tenant, namespaceName: image.namespace, visibility: namespace.spec?.visibility },
              },
              {},
            )
          ).object,
        );
      } catch (err) {
        // Two pushes of a new repository at once: the other one made it.
        repository = await findRepository(this.deps.stores, namespace, image.repo);
        if (!repository) throw err;
      }
    }
    const now = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    await updateStatus(repositories(), asRepository, nsName, repository.metadata.name!, ({ status }) => {
      const tags = (status?.tags ?? []).filter(t => t.name !== tag);
      return { ...status, tags: [...tags, { name: tag, digest, timeCreated: now }] };
    });
    await this.countRepositories(namespaces(), namespace);
  }

  private async pulled(image: ImageName): Promise<void> {
    const namespace = await findNamespace(this.deps.stores, image.tenant, image.namespace);
    const repository = namespace && (await findRepository(this.deps.stores, namespace, image.repo));
    if (!namespace || !repository) return;
    await updateStatus(this.deps.stores.repositories(), asRepository, namespace.metadata.name!, repository.metadata.name!, ({ status }) => ({
      ...status,
      pullCount: (status?.pullCount ?? 0) + 1,
    }));
  }

  private async deleted(image: ImageName, digest: string): Promise<void> {
    const namespace = await findNamespace(this.deps.stores, image.tenant, image.namespace);
    const repository = namespace && (await findRepository(this.deps.stores, namespace, image.repo));
    if (!namespace || !repository) return;
    await updateStatus(this.deps.stores.repositories(), asRepository, namespace.metadata.name!, repository.metadata.name!, ({ status }) => {
      const tags = status?.tags ?? [];
      const kept = tags.filter(t => t.digest !== digest);
      return kept.length === tags.length ? undefined : { ...status, tags: kept };
    });
    await this.countRepositories(this.deps.stores.namespaces(), namespace);
  }

  /** status.repoCount: the namespace's repositories that hold at least one tag (counted, not incremented, so events in any order agree). */
  private async countRepositories(namespaces: RegistryStore, namespace: StoredNamespace): Promise<void> {
    const nsName = namespace.metadata.name!;
    const list = await this.deps.stores.repositories().list(controllerContext(nsName), {
      fieldSelector: `spec.tenantID=${namespace.spec?.tenantID},spec.namespaceName=${namespace.spec?.name}`,
    });
    const count = list.items.map(asRepository).filter(r => (r.status?.tags ?? []).length > 0).length;
    await updateStatus(namespaces, asNamespace, '', nsName, ({ status }) => (status?.repoCount === count ? undefined : { ...status, repoCount: count }));
  }
}
