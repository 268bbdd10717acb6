// The image registry behind registry.tkestack.io: /v2/ proxied to the engine (embedded
// docker-registry or an external distribution), the token service at /registry/auth, and the
// engine's notifications at /registry/notification.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Controller } from '../../../controller/informer.ts';
import type { Route } from '../../../server/apiserver.ts';
import { writeFileAtomic } from '../../../server/certs.ts';
import type { APIGroup, GroupContext } from '../../../server/group.ts';
import { registryGroup } from '../rules.ts';
import type { RegistryObjects } from './access.ts';
import { EmbeddedEngine, engineAddressFile, notificationPath, stopLeftoverEngine } from './engine.ts';
import { loadTokenSigningKey, type TokenSigningKey } from './keys.ts';
import { NotificationReceiver } from './notifications.ts';
import { EngineUnavailable, proxyHandler } from './proxy.ts';
import { tokenHandler, tokenPath } from './token.ts';

export interface ImageRegistry {
  routes: Route[];
  controller: Controller;
}

/** Runs `make` once, on first use; a failure is not remembered, so the next use tries again. */
function once<T>(make: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () =>
    (pending ??= make().catch(err => {
      pending = undefined;
      throw err;
    }));
}

export function imageRegistry(ctx: GroupContext): ImageRegistry {
  const options = ctx.registry;
  const dir = join(ctx.dataDir, 'registry');
  const logger = ctx.logger.child({ component: 'image-registry' });
  const stores: RegistryObjects = {
    namespaces: () => ctx.store(registryGroup, 'namespaces'),
    repositories: () => ctx.store(registryGroup, 'repositories'),
  };
  const tokenKeyFile = options.tokenKeyFile ?? join(dir, 'token.key');
  const tokenCertFile = options.tokenCertFile ?? join(dir, 'token.crt');
  const signingKey = once<TokenSigningKey>(() => loadTokenSigningKey(tokenKeyFile, tokenCertFile, !options.tokenKeyFile));
  const notificationSecret = once(async () => {
    const file = options.notificationSecretFile ?? join(dir, 'notification.secret');
    if (!options.notificationSecretFile && !existsSync(file)) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeFileAtomic(file, randomBytes(32).toString('base64url'), 0o600);
    }
    const secret = (await readFile(file, 'utf8')).trim();
    if (secret.length < 16) throw new Error(`${file}: the notification secret must be at least 16 characters`);
    return secret;
  });

  const embedded = !options.url && EmbeddedEngine.available(options.engineBinary);
  let engine: EmbeddedEngine | undefined;
  /** Set as the first request starts the engine, whose own start stops what was left behind. */
  let engineRequested = false;
  const startEngine = once(async () => {
    engineRequested = true;
    // The engine is configured with both: they must exist before it starts.
    await signingKey();
    engine = new EmbeddedEngine({
      binary: options.engineBinary,
      dir,
      tokenCertFile,
      logger,
      notificationSecret: await notificationSecret(),
      notificationURL: () => `${ctx.externalURL()}${notificationPath}`,
      trustedCAPEM: ctx.ca.certPEM,
    });
    return engine;
  });
  const upstream = async (): Promise<string> => {
    if (options.url) return options.url;
    if (!embedded) {
      throw new EngineUnavailable(
        `no registry engine: ${options.engineBinary} is not installed (Debian package docker-registry) and --registry-url is not set`,
      );
    }
    if (options.sharedEngine === 'user') {
      // Read each time: the owner writes a new address when it restarts its engine.
      const address = await readFile(engineAddressFile(dir), 'utf8').catch(() => undefined);
      if (!address) throw new EngineUnavailable('the registry engine is starting; try again in a moment');
      return address.trim();
    }
    return (await startEngine()).url();
  };

  const receiver = new NotificationReceiver({ stores, secret: notificationSecret, logger });
  const proxy = proxyHandler({ upstream, domainSuffix: options.domainSuffix, logger });
  const token = tokenHandler({ authenticator: ctx.authenticator, authorizer: ctx.authorizer, stores, signingKey, domainSuffix: options.domainSuffix, logger });
  return {
    routes: [
      { prefix: '/v2', handle: r => proxy(r.req, r.res, r.url) },
      { prefix: tokenPath, handle: r => token(r.req, r.res, r.url) },
      { prefix: notificationPath, handle: r => receiver.handle(r.req, r.res) },
    ],
    controller: {
      name: 'image-registry-engine',
      // Started on the first registry request, not here: a server whose registry nobody uses runs no engine.
      // One that a killed predecessor left behind would hold on to the storage until then: it goes now.
      // Shared by workers, it starts now: the other workers cannot start it on their first request.
      async start() {
        if (!embedded) return;
        // Not once a request has started this server's engine: its pid is in the file by now.
        if (!engineRequested) stopLeftoverEngine(dir, logger);
        if (options.sharedEngine === 'owner') void upstream().catch(err => logger.error({ err }, 'the registry engine did not start'));
      },
      stop() {
        engine?.stop();
      },
    },
  };
}

/** The registry group with the image registry's routes and engine added to what it serves. */
export function withImageRegistry(ctx: GroupContext, group: APIGroup): APIGroup {
  const images = imageRegistry(ctx);
  return {
    ...group,
    routes: [...(group.routes ?? []), ...images.routes],
    controllers: () => [...(group.controllers?.() ?? []), images.controller],
  };
}
