// TKE's predefined policies (hack/auth/policy.json of tkestack/tke, copied to predefined/) are
// seeded into every tenant when its identity provider is made, and the action categories once.
import { readFileSync } from 'node:fs';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { Transaction } from '../../storage/interface.ts';
import { authGroupName, serverObject } from './state.ts';

interface PredefinedPolicy {
  metadata: { name?: string };
  spec: {
    displayName: string;
    category: string;
    type: string;
    scope: string;
    description: string;
    statement: { actions: string[]; resources: string[]; effect: string };
  };
}
interface PredefinedCategory {
  metadata: { name: string };
  Spec: Record<string, unknown>;
}

const load = <T>(file: string): T => JSON.parse(readFileSync(new URL(`./predefined/${file}`, import.meta.url), 'utf8')) as T;
const policies = load<PredefinedPolicy[]>('policy.json');
const categories = load<PredefinedCategory[]>('category.json');

/**
 * Actions added to TKE's ProjectMember: in this server a project member may create
 * namespaces of its project (TKE reserves that to ProjectAdmin).
 */
const projectMemberExtraActions = ['createNamespace'];

/** Names of the platform roles the manual offers (4.2.6.2): administrator, platform user, tenant (login only). */
export const platformRolePolicy = {
  administrator: (tenant: string) => `pol-${tenant}-administrator`,
  platform: (tenant: string) => `pol-${tenant}-platform`,
  viewer: (tenant: string) => `pol-${tenant}-viewer`,
};

/** TKE names the unnamed ones at random; here the name is derived from the display name, so seeding is idempotent. */
function policyName(p: PredefinedPolicy, tenant: string): string {
  if (p.metadata.name) return p.metadata.name.replace('{tenantID}', tenant);
  return `pol-${tenant}-${p.spec.displayName.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
}

export function predefinedPolicies(tenant: string): KubeObject[] {
  return policies.map(p => {
    const actions = p.spec.displayName === 'ProjectMember' ? [...p.spec.statement.actions, ...projectMemberExtraActions] : p.spec.statement.actions;
    return serverObject('Policy', policyName(p, tenant), {
      spec: {
        displayName: p.spec.displayName,
        tenantID: tenant,
        category: p.spec.category,
        type: 'default',
        scope: p.spec.scope || 'platform',
        username: '',
        description: p.spec.description,
        statement: { actions, resources: p.spec.statement.resources, effect: p.spec.statement.effect },
      },
      status: { phase: 'Active', users: [], groups: [] },
    });
  });
}

/** Creates whatever of the tenant's predefined policies is missing, inside `tx`. */
export async function seedTenant(tx: Transaction, tenant: string): Promise<void> {
  for (const p of predefinedPolicies(tenant)) {
    const key = { group: authGroupName, resource: 'policies', namespace: '', name: p.metadata.name! };
    if (!(await tx.get(key))) await tx.create(key, p);
  }
}

export async function seedCategories(tx: Transaction): Promise<void> {
  for (const c of categories) {
    const key = { group: authGroupName, resource: 'categories', namespace: '', name: c.metadata.name };
    if (!(await tx.get(key))) await tx.create(key, serverObject('Category', c.metadata.name, { Spec: c.Spec }));
  }
}
