// What `kubectl get` prints for the auth kinds that had only NAME and AGE: the fields a person
// looks for first, and (priority 1, `-o wide`) the tenant and the rest of the detail.
import type { TSchema } from '@sinclair/typebox';
import type * as v1 from '../../../api/auth/v1/types.ts';
import type { TableColumnDefinition } from '../../../api/meta/v1/types.ts';
import type { ObjectOf, Strategy } from '../../rest/resource.ts';

type Printed<S extends TSchema> = Pick<Strategy<ObjectOf<S>>, 'columns' | 'row'>;

const column = (name: string, description: string, priority = 0, type: TableColumnDefinition['type'] = 'string'): TableColumnDefinition => ({
  name,
  type,
  format: '',
  description,
  priority,
});
const tenant = column('Tenant', 'The tenant the object belongs to.', 1);
const names = (subjects: v1.Subject[] | undefined): string => (subjects ?? []).map(s => String(s.name || s.id || s)).join(',');
const count = (v: readonly unknown[] | Record<string, unknown> | undefined): number => (Array.isArray(v) ? v.length : v ? Object.keys(v).length : 0);

export const userColumns: Printed<typeof v1.User> = {
  columns: [
    column('Username', 'The name the user logs in with.'),
    column('Display Name', 'The name shown to people.'),
    column('Email', "The user's email address.", 1),
    tenant,
  ],
  row: o => [o.spec?.name ?? '', o.spec?.displayName ?? '', o.spec?.email ?? '', o.spec?.tenantID ?? ''],
};

export const groupColumns: Printed<typeof v1.Group> = {
  columns: [
    column('Display Name', 'The name shown to people.'),
    column('Users', 'How many users are members.', 0, 'integer'),
    column('Members', "The members' names.", 1),
    tenant,
  ],
  row: o => [o.spec?.displayName ?? '', count(o.status?.users), names(o.status?.users), o.spec?.tenantID ?? ''],
};

/** Casbin's own words: a `p` rule is policy, domain, resource, action, effect; a `g` rule is subject, role or policy, domain. */
export const ruleColumns: Printed<typeof v1.Rule> = {
  columns: [
    column('PType', 'p: a permission; g: a subject holds a role or policy.'),
    column('V0', 'p: the policy; g: the subject.'),
    column('V1', 'p: the domain; g: the role or policy.'),
    column('V2', 'p: the resource; g: the domain (* or a project).'),
    column('V3', 'p: the action.'),
    column('V4', 'p: the effect.', 1),
  ],
  row: o => [o.spec?.ptype ?? '', o.spec?.v0 ?? '', o.spec?.v1 ?? '', o.spec?.v2 ?? '', o.spec?.v3 ?? '', o.spec?.v4 ?? ''],
};

export const projectPolicyBindingColumns: Printed<typeof v1.ProjectPolicyBinding> = {
  columns: [
    column('Project', 'The project the policy applies in.'),
    column('Policy', 'The policy bound.'),
    column('Users', 'The users it applies to.'),
    column('Groups', 'The groups it applies to.', 1),
    tenant,
  ],
  row: o => [o.spec?.projectID ?? '', o.spec?.policyID ?? '', names(o.spec?.users), names(o.spec?.groups), o.spec?.tenantID ?? ''],
};

export const customPolicyBindingColumns: Printed<typeof v1.CustomPolicyBinding> = {
  columns: [
    column('Policy', 'The policy bound.'),
    column('Resources', 'The resources it is narrowed to.'),
    column('Users', 'The users it applies to.'),
    column('Groups', 'The groups it applies to.', 1),
    tenant,
  ],
  row: o => [o.spec?.policyID ?? '', (o.spec?.resources ?? []).join(','), names(o.spec?.users), names(o.spec?.groups), o.spec?.tenantID ?? ''],
};

export const categoryColumns: Printed<typeof v1.Category> = {
  columns: [
    column('Display Name', 'The name shown to people.'),
    column('Actions', 'How many actions the category holds.', 0, 'integer'),
    column('Description', 'What the category is about.', 1),
  ],
  // TKE's Category keeps its spec as `Spec` (a Go field without a JSON tag).
  row: o => [o.Spec?.displayName ?? '', count(o.Spec?.actions), o.Spec?.description ?? ''],
};

export const clientColumns: Printed<typeof v1.Client> = {
  columns: [
    column('Client Name', 'The name shown on the login page.'),
    column('Public', 'Whether the client keeps no secret.', 0, 'boolean'),
    column('Redirect URIs', 'Where logins may return to.', 1),
  ],
  row: o => [o.spec?.name ?? '', o.spec?.public === true, (o.spec?.redirect_uris ?? []).join(',')],
};

export const configMapColumns: Printed<typeof v1.ConfigMap> = {
  columns: [column('Data', 'How many keys it holds.', 0, 'integer')],
  row: o => [count(o.data) + count(o.binaryData)],
};

export const auditEventColumns: Printed<typeof v1.AuditEvent> = {
  columns: [
    column('User', 'Who made the request.'),
    column('Verb', 'What was asked.'),
    column('Resource', 'Of what.'),
    column('Object', 'The object named.'),
    column('Decision', 'allow or deny.'),
    column('Code', 'The HTTP status of the answer.', 0, 'integer'),
    column('Reason', 'Why it was decided so.', 1),
    tenant,
  ],
  row: o => {
    const s = o.spec;
    const resource = [s?.resource, s?.subresource].filter(Boolean).join('/') + (s?.apiGroup ? `.${s.apiGroup}` : '');
    return [
      s?.username ?? '',
      s?.verb ?? '',
      resource,
      [s?.namespace, s?.name].filter(Boolean).join('/'),
      s?.decision ?? '',
      s?.code ?? '',
      s?.reason ?? '',
      s?.tenantID ?? '',
    ];
  },
};

export const authProjectColumns: Printed<typeof v1.AuthProject> = {
  columns: [
    column('Members', 'How many users are members.', 0, 'integer'),
    column('Groups', 'How many groups are members.', 0, 'integer'),
    column('Tenant', 'The tenant the project belongs to.', 1),
  ],
  row: o => [count(o.members), count(o.groups), o.tenantID ?? ''],
};
