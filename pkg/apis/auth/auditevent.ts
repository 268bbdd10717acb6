// auditevents.auth.tkestack.io: the audit trail, newest first, read-only.
import * as v1 from '../../../api/auth/v1/types.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { isMaster, tenantOfUser } from './subjects.ts';
import { auditEventColumns } from './columns.ts';
import { type AuthDeps, authKind } from './kind.ts';

export function auditEvents(deps: AuthDeps): ResourceDefinition<typeof v1.AuditEvent> {
  return authKind(deps, {
    kind: 'AuditEvent',
    resource: 'auditevents',
    schema: v1.AuditEvent,
    verbs: ['list'],
    strategy: auditEventColumns,
    handlers: {
      async list(ctx, q) {
        const tenant = isMaster(ctx.user) ? /spec\.tenantID=([^,]+)/.exec(q.fieldSelector ?? '')?.[1] : tenantOfUser(ctx.user);
        return { items: await deps.audit.read(tenant) };
      },
    },
  });
}
