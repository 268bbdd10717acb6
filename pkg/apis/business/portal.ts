// GET /apis/business.tkestack.io/v1/portal: the caller's view of the business console — which
// projects it is a member of (spec.members holds usernames) and whether it administers the
// platform. Platform administrators (system:masters, or administrators of the tenant's identity
// provider, which Platforms' administrators are written to) see every project of the tenant, as
// in TKE. The same administrators the authorizer knows. Computed on every call, never stored.
import { Portal } from '../../../api/business/v1/portal.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import type { ObjectOf, RequestContext } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import type { Store } from '../../storage/interface.ts';
import { readStored } from '../auth/stored.ts';
import { isMaster, tenantOfUser } from '../auth/subjects.ts';
import { asProject, businessGroup as group, keys } from './stored.ts';

async function portalFor(storage: Store, ctx: RequestContext): Promise<ObjectOf<typeof Portal>> {
  const { username } = ctx.user;
  const tenant = tenantOfUser(ctx.user);
  const visible = (o: KubeObject) => tenantOf(o) === tenant && (!ctx.objectFilter || ctx.objectFilter(o));
  // A tenant's identity provider is named after the tenant.
  const idp = await readStored(storage, 'identityproviders', tenant);
  const administrator = isMaster(ctx.user) || (idp?.spec?.administrators ?? []).includes(username);
  const projectList = await storage.list(keys.allProjects(), {
    filter: o => visible(o) && (administrator || (asProject(o).spec?.members ?? []).includes(username)),
  });
  const projects: Record<string, string> = {};
  const extension: Record<string, { phase: string; parent: string }> = {};
  for (const p of projectList.items.map(asProject)) {
    const name = p.metadata.name!;
    projects[name] = p.spec?.displayName ?? '';
    extension[name] = { phase: p.status?.phase ?? '', parent: p.spec?.parentProjectName ?? '' };
  }
  // The caller's portal is as old as its tenant.
  return { apiVersion: `${group}/v1`, kind: 'Portal', metadata: { creationTimestamp: idp?.metadata.creationTimestamp }, administrator, projects, extension };
}

export const portal = (storage: Store): OpenAPIResource<typeof Portal> => ({
  group,
  version: 'v1',
  kind: 'Portal',
  listKind: 'Portal',
  resource: 'portal',
  singular: 'portal',
  namespaced: false,
  shortNames: ['pt'],
  categories: [],
  schema: Portal,
  listSchema: Portal,
  subresources: {},
  verbs: ['list'],
  handlers: { listObject: ctx => portalFor(storage, ctx) },
  strategy: {
    columns: [
      { name: 'Administrator', type: 'boolean', format: '', description: 'Whether the caller administers the platform.', priority: 0 },
      { name: 'Projects', type: 'string', format: '', description: 'The projects the caller is a member of.', priority: 0 },
    ],
    omitAge: true,
    row: obj => [obj.administrator, Object.keys(obj.projects ?? {}).join(',')],
  },
});
