// The kinds the server serves, built as main.ts builds them but without a server: building a
// group does no I/O, so a context whose storage and database are never touched is enough to list
// the kinds and what they declare (schemas, secret fields).
import type pg from 'pg';
import { pino } from 'pino';
import { apiGroups } from '../../pkg/apis/index.ts';
import { AdmissionChain } from '../../pkg/rest/admission.ts';
import type { ResourceDefinition } from '../../pkg/rest/resource.ts';
import { createAuthenticator } from '../../pkg/server/authn.ts';
import type { CertificateAuthority } from '../../pkg/server/certs.ts';
import type { GroupContext } from '../../pkg/server/group.ts';
import type { Store } from '../../pkg/storage/interface.ts';

export function servedKinds(): ResourceDefinition[] {
  const unused = (what: string) => () => {
    throw new Error(`${what} is not available when only listing kinds`);
  };
  const ctx: GroupContext = {
    storage: {} as Store,
    sql: {} as pg.Pool,
    ca: {} as CertificateAuthority,
    admission: new AdmissionChain(),
    authenticator: createAuthenticator({}),
    store: unused('store'),
    authorizer: unused('authorizer'),
    externalURL: unused('externalURL'),
    dataDir: '',
    logger: pino({ level: 'silent' }),
    audit: { maxAgeDays: 0, maxEvents: 0 },
    clusterHealthCheckPeriodSeconds: 60,
    eventRecorder: { event: unused('eventRecorder') },
    eventTTLSeconds: 3600,
    registry: { engineBinary: '' },
  };
  return apiGroups.flatMap(g => g.build(ctx).resources);
}
