// rules.auth.tkestack.io: TKE's casbin rules, a read-only view computed from the same snapshot and
// the same grants the authorizer decides with, so what rules lists is what is enforced.
import * as v1 from '../../../api/auth/v1/types.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { createHash } from 'node:crypto';
import { errors } from '../../rest/errors.ts';
import type { ResourceDefinition } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import { authGroupName, type Snapshot } from './state.ts';
import { isMaster, tenantOfUser, type SubjectRef } from './subjects.ts';
import { ruleColumns } from './columns.ts';
import { type AuthDeps, authKind } from './kind.ts';
import { typed } from './bindings.ts';
import { requestTenant } from './views.ts';

export function rules(deps: AuthDeps): ResourceDefinition<typeof v1.Rule> {
  return authKind(deps, {
    kind: 'Rule',
    resource: 'rules',
    schema: v1.Rule,
    verbs: ['get', 'list'],
    strategy: ruleColumns,
    handlers: {
      async list(ctx, q) {
        const snap = await deps.state.snapshot();
        const tenants = isMaster(ctx.user)
          ? /(?:^|,)spec\.tenantID=([^,]+)/.exec(q.fieldSelector ?? '')?.[1]
            ? [requestTenant(ctx, q.fieldSelector)]
            : [...snap.objects.identityproviders.keys()]
          : [tenantOfUser(ctx.user)];
        return { items: (await Promise.all(tenants.map(t => casbinRules(snap, t)))).flat() };
      },
      async get(ctx, name) {
        const r = (await this.list!(ctx, {})).items.find(i => i.metadata.name === name);
        if (!r) throw errors.notFound({ group: authGroupName, resource: 'rules' }, name);
        return r;
      },
    },
  });
}

/**
 * The casbin rules of a tenant, in TKE's model (p = sub, dom, obj, act, eft; g = _, _, _ with
 * domain '*' platform-wide or a project ID): a p line per action and resource of every policy
 * statement, and a g line per subject that holds a policy (directly, by role or by project or
 * custom binding) or a role, or is a member of a local group. Names are content hashes.
 */
export async function casbinRules(snap: Snapshot, tenant: string): Promise<KubeObject[]> {
  const lines: string[][] = [];
  // A rule is as old as the object it is computed from (policy, role, group or binding).
  const since: Array<string | undefined> = [];
  const add = (from: KubeObject, line: string[]) => {
    lines.push(line);
    since.push(from.metadata.creationTimestamp);
  };
  const userKey = (s: SubjectRef) => `${tenant}##user##${s.name || s.id}`;
  const groupKey = (s: SubjectRef) => `${tenant}##group##${s.id || s.name}`;
  const subjects = (o: { users?: SubjectRef[]; groups?: SubjectRef[] } | undefined) => [...(o?.users ?? []).map(userKey), ...(o?.groups ?? []).map(groupKey)];
  for (const p of snap.objects.policies.values()) {
    if (tenantOf(p) !== tenant) continue;
    const st = p.spec?.statement;
    for (const res of st?.resources ?? []) for (const act of st?.actions ?? []) add(p, ['p', p.metadata.name!, '*', res, act, st?.effect ?? 'allow']);
    for (const sub of subjects(p.status)) add(p, ['g', sub, p.metadata.name!, '*']);
  }
  for (const r of snap.objects.roles.values()) {
    if (tenantOf(r) !== tenant) continue;
    const dom = r.spec?.projectID || '*';
    for (const pol of r.spec?.policies ?? []) add(r, ['g', r.metadata.name!, pol, dom]);
    for (const sub of subjects(r.status)) add(r, ['g', sub, r.metadata.name!, dom]);
  }
  for (const g of snap.objects.localgroups.values()) {
    if (tenantOf(g) !== tenant) continue;
    for (const u of g.status?.users ?? []) add(g, ['g', userKey(u), groupKey({ id: g.metadata.name }), '*']);
  }
  for (const b of snap.objects.projectpolicybindings.values()) {
    if (tenantOf(b) !== tenant) continue;
    for (const sub of subjects(b.spec)) add(b, ['g', sub, b.spec?.policyID ?? '', b.spec?.projectID ?? '']);
  }
  for (const b of snap.objects.custompolicybindings.values()) {
    if (tenantOf(b) !== tenant) continue;
    // A custom binding narrows its policy to its own resources: a rule subject of its own.
    const p = snap.objects.policies.get(b.spec?.policyID ?? '');
    const st = p?.spec?.statement;
    const resources = b.spec?.resources?.length ? b.spec.resources : (st?.resources ?? []);
    for (const res of resources) for (const act of st?.actions ?? []) add(b, ['p', b.metadata.name!, '*', res, act, st?.effect ?? 'allow']);
    for (const sub of subjects(b.spec)) add(b, ['g', sub, b.metadata.name!, '*']);
  }
  const seen = new Set<string>();
  const out: KubeObject[] = [];
  for (const [i, l] of lines.entries()) {
    const id = createHash('sha256')
      .update(`${tenant}\u0000${l.join('\u0000')}`)
      .digest('hex')
      .slice(0, 20);
    if (seen.has(id)) continue;
    seen.add(id);
    const [ptype, v0 = '', v1 = '', v2 = '', v3 = '', v4 = '', v5 = '', v6 = ''] = l;
    out.push(
      typed('Rule', {
        metadata: { name: `rule-${id}`, creationTimestamp: since[i], labels: { 'auth.tkestack.io/tenant': tenant } },
        spec: { ptype, v0, v1, v2, v3, v4, v5, v6 },
      }),
    );
  }
  return out;
}
