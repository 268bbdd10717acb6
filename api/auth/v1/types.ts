// auth.tkestack.io/v1, after tkestack/tke api/auth/v1/types.go: field names and JSON tags as TKE
// writes them. Go fields without a json tag keep their Go name on the wire (Category.Spec,
// ProjectPolicyBinding.Status, CustomPolicyBinding.Status), and so do they here.
import { Type, type Static, type TObject, type TProperties, type TSchema } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, SpecFinalizers, StringEnum, Time, TypeMeta } from '../../meta/v1/schema.ts';

const id = (name: string) => `io.tkestack.tke.api.auth.v1.${name}`;
const str = (description?: string) => Type.Optional(Type.String(description ? { description } : {}));
const strings = (description?: string) => Type.Optional(Type.Array(Type.String(), description ? { description } : {}));
const stringMap = (description?: string) => Type.Optional(Type.Record(Type.String(), Type.String(), description ? { description } : {}));

/** A top-level kind: TypeMeta + metadata + the given fields. */
function kind<P extends TProperties>(name: string, description: string, props: P) {
  return Type.Object({ ...TypeMeta, metadata: Type.Optional(ObjectMeta), ...props }, { $id: id(name), description });
}
function list<T extends TSchema>(item: T, name: string) {
  return ListOf(item, { $id: id(`${name}List`), description: `${name}List is the whole list of all ${name}s.`, itemsDescription: `List of ${name}s.` });
}
function struct<P extends TProperties>(name: string, description: string, props: P): TObject<P> {
  return Type.Object(props, { $id: id(name), description });
}

export const Subject = struct('Subject', 'Subject references a user or a group.', {
  id: str('ID is the id of the subject.'),
  name: str('Name is the name of the subject.'),
});
export type Subject = Static<typeof Subject>;
const subjects = (description: string) => Type.Optional(Type.Array(Subject, { description }));

// --- LocalIdentity -----------------------------------------------------------------------------
export const LocalIdentitySpec = struct('LocalIdentitySpec', 'LocalIdentitySpec is a description of an identity.', {
  finalizers: Type.Optional(SpecFinalizers()),
  username: Type.String({
    description: 'The account of the user: 3-32 characters, lower-case letters, digits and "-", starting and ending with a letter or digit.',
  }),
  displayName: str(),
  email: str(),
  phoneNumber: str(),
  hashedPassword: str(
    'On create and password change: the new password, base64-encoded as TKE clients send it. Never returned: the server keeps only a salted scrypt hash.',
  ),
  tenantID: str(),
  groups: strings(),
  extra: stringMap(),
});
export const LocalIdentityStatus = struct('LocalIdentityStatus', 'LocalIdentityStatus is a description of an identity status.', {
  phase: str(),
  locked: Type.Optional(Type.Boolean()),
  lastUpdateTime: Type.Optional(Field(Time, { description: 'The last time the local identity was updated.' })),
});
export const LocalIdentity = kind('LocalIdentity', 'LocalIdentity is an object that contains the metadata about identify used to login to TKE.', {
  spec: Type.Optional(Field(LocalIdentitySpec, { description: 'Spec defines the desired identities of identity in this set.', default: {} })),
  status: Type.Optional(Field(LocalIdentityStatus, { default: {} })),
});
export const LocalIdentityList = list(LocalIdentity, 'LocalIdentity');

export const PasswordReq = struct('PasswordReq', 'PasswordReq contains info to update password for a localIdentity.', {
  ...TypeMeta,
  hashedPassword: str('The new password, base64-encoded.'),
  originalPassword: str('The current password, base64-encoded (required unless a platform administrator changes it).'),
});
export type PasswordReq = Static<typeof PasswordReq>;

// --- LocalGroup / User / Group ------------------------------------------------------------------
export const LocalGroupSpec = struct('LocalGroupSpec', 'LocalGroupSpec defines the desired identities of group in this set.', {
  finalizers: Type.Optional(SpecFinalizers()),
  displayName: str(),
  tenantID: str(),
  username: str('Username is creator.'),
  description: str(),
  extra: stringMap(),
});
export const LocalGroupStatus = struct('LocalGroupStatus', 'GroupStatus represents information about the status of a group.', {
  phase: str(),
  users: subjects('Users represents the members of the group.'),
});
export const LocalGroup = kind('LocalGroup', 'LocalGroup represents a group of users.', {
  spec: Type.Optional(Field(LocalGroupSpec, { description: 'Spec defines the desired identities of group in this set.', default: {} })),
  status: Type.Optional(Field(LocalGroupStatus, { default: {} })),
});
export const LocalGroupList = list(LocalGroup, 'LocalGroup');

export const UserSpec = struct('UserSpec', 'UserSpec is a description of a user.', {
  id: str(),
  name: str(),
  displayName: str(),
  email: str(),
  phoneNumber: str(),
  tenantID: str(),
  extra: stringMap(),
});
export const User = kind('User', 'User is an object that contains the metadata about identify about tke local idp or third-party idp.', {
  spec: Type.Optional(UserSpec),
});
export const UserList = list(User, 'User');

export const GroupSpec = struct('GroupSpec', 'GroupSpec is a description of an Group.', {
  id: str(),
  displayName: str(),
  tenantID: str(),
  description: str(),
  extra: stringMap(),
});
export const GroupStatus = struct('GroupStatus', 'GroupStatus represents information about the status of a group.', {
  users: subjects('Users represents the members of the group.'),
});
export const Group = kind('Group', 'Group is an object that contains the metadata about identify about tke local idp or third-party idp.', {
  spec: Type.Optional(GroupSpec),
  status: Type.Optional(GroupStatus),
});
export const GroupList = list(Group, 'Group');

// --- APIKey / APISigningKey --------------------------------------------------------------------
export const APIKeySpec = struct('APIKeySpec', 'APIKeySpec is a description of an apikey.', {
  apiKey: str('APIkey is the jwt token used to authenticate user; returned only when the key is made.'),
  tenantID: str(),
  username: str(),
  description: str(),
  issue_at: Type.Optional(Field(Time, { description: 'Creation time of the key.' })),
  expire_at: Type.Optional(Field(Time, { description: 'Expire time of the key.' })),
});
export const APIKeyStatus = struct('APIKeyStatus', 'APIKeyStatus is a description of an apikey status.', {
  disabled: Type.Optional(Type.Boolean({ description: 'Disabled keys are refused at once.', default: false })),
  expired: Type.Optional(Type.Boolean({ default: false })),
});
export const APIKey = kind('APIKey', 'APIKey contains expiration time used to apply the api key.', {
  spec: Type.Optional(Field(APIKeySpec, { default: {} })),
  status: Type.Optional(Field(APIKeyStatus, { default: {} })),
});
export const APIKeyList = list(APIKey, 'APIKey');

/** metav1.Duration: a Go duration string such as "1h", "30m", "720h0m0s". */
const Duration = Type.String({ description: 'A duration such as "1h", "30m" or "720h0m0s".', pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$' });

export const APIKeyReq = struct('APIKeyReq', 'APIKeyReq contains expiration time used to apply the api key.', {
  ...TypeMeta,
  expire: Type.Optional(Duration),
  description: str(),
});
export type APIKeyReq = Static<typeof APIKeyReq>;
export const APIKeyReqPassword = struct('APIKeyReqPassword', 'APIKeyReqPassword contains userinfo and expiration time used to apply the api key.', {
  ...TypeMeta,
  tenantID: str(),
  username: str(),
  password: str('The password, base64-encoded as TKE clients send it.'),
  description: str(),
  expire: Type.Optional(Duration),
});
export type APIKeyReqPassword = Static<typeof APIKeyReqPassword>;

export const APISigningKey = kind('APISigningKey', 'APISigningKey hold encryption and signing key for api key. The private key is never served.', {
  signingKey: Type.Optional(Type.String({ description: 'Private key (never returned).', contentEncoding: 'base64' })),
  signingKeyPub: Type.Optional(Type.String({ description: 'Public key in PEM, base64-encoded as Go []byte.', contentEncoding: 'base64' })),
});
export const APISigningKeyList = list(APISigningKey, 'APISigningKey');

// --- Category / Policy / Rule / Role -----------------------------------------------------------
export const Action = struct('Action', 'Action defines a action verb for authorization.', { name: str(), description: str() });
export const CategorySpec = struct('CategorySpec', 'CategorySpec is a description of category.', {
  displayName: str(),
  description: str(),
  actions: Type.Optional(Type.Array(Action)),
});
export const Category = kind('Category', 'Category defines a category of actions for policy.', {
  Spec: Type.Optional(CategorySpec),
});
export const CategoryList = list(Category, 'Category');

export const Effect = { Allow: 'allow', Deny: 'deny' } as const;
export const StatementSchema = struct('Statement', 'Statement defines a series of action on resource can be done or not.', {
  actions: Type.Array(Type.String(), { description: 'Actions such as getCluster, list*, *Namespace*.' }),
  resources: Type.Array(Type.String(), { description: 'Resources such as cluster:cls-1/namespace:ns-1/*, project:prj-1/*, *.' }),
  effect: StringEnum(['allow', 'deny'], { description: 'Effect indicates action on the resource is allowed or not, can be "allow" or "deny"' }),
});
export const PolicySpec = struct('PolicySpec', 'PolicySpec is a description of a policy.', {
  finalizers: Type.Optional(SpecFinalizers()),
  displayName: str(),
  tenantID: str(),
  category: str(),
  type: Type.Optional(StringEnum(['custom', 'default'], { default: 'custom' })),
  scope: Type.Optional(StringEnum(['platform', 'project', ''], { description: 'platform or project; empty means platform.' })),
  username: str('Creator of the policy.'),
  description: str(),
  statement: StatementSchema,
  conditions: Type.Optional(Type.String({ contentEncoding: 'base64' })),
});
export const PolicyStatus = struct('PolicyStatus', 'PolicyStatus represents information about the status of a policy.', {
  phase: str(),
  users: subjects('Users represents the users the policy applies to.'),
  groups: subjects('Groups represents the groups the policy applies to.'),
});
export const Policy = kind('Policy', 'Policy represents a policy document for access control.', {
  spec: Type.Optional(PolicySpec),
  status: Type.Optional(Field(PolicyStatus, { default: {} })),
});
export const PolicyList = list(Policy, 'Policy');
export type PolicySpec = Static<typeof PolicySpec>;

export const RuleSpec = struct('RuleSpec', 'RuleSpec is a description of a rule.', {
  ptype: str(),
  v0: str(),
  v1: str(),
  v2: str(),
  v3: str(),
  v4: str(),
  v5: str(),
  v6: str(),
});
export const Rule = kind('Rule', 'Rule represents a rule document for access control.', { spec: Type.Optional(RuleSpec) });
export const RuleList = list(Rule, 'Rule');

export const RoleSpec = struct('RoleSpec', 'RoleSpec is a description of role.', {
  finalizers: Type.Optional(SpecFinalizers()),
  displayName: str(),
  tenantID: str(),
  projectID: str(),
  username: str(),
  description: str(),
  policies: strings('Policies is the names of the policies of the role.'),
});
export const RoleStatus = struct('RoleStatus', 'RoleStatus represents information about the status of a role.', {
  phase: str(),
  users: subjects('Users represents the users the role applies to.'),
  groups: subjects('Groups represents the groups the role applies to.'),
});
export const Role = kind('Role', 'Role is a collection with multiple policies.', {
  spec: Type.Optional(RoleSpec),
  status: Type.Optional(Field(RoleStatus, { default: {} })),
});
export const RoleList = list(Role, 'Role');

// --- bindings ------------------------------------------------------------------------------------
const BindingPhase = struct('BindingStatus', 'Status of a binding.', { phase: str() });
export const ProjectPolicyBindingSpec = struct(
  'ProjectPolicyBindingSpec',
  'ProjectPolicyBindingSpec defines the desired identities of a project policy binding.',
  {
    finalizers: Type.Optional(SpecFinalizers()),
    tenantID: str(),
    projectID: Type.String(),
    policyID: Type.String(),
    users: subjects('Users the policy applies to inside the project.'),
    groups: subjects('Groups the policy applies to inside the project.'),
  },
);
export const ProjectPolicyBinding = kind(
  'ProjectPolicyBinding',
  'ProjectPolicyBinding references a project-scoped policy and contains the subjects it applies to in one project.',
  {
    spec: Type.Optional(ProjectPolicyBindingSpec),
    Status: Type.Optional(BindingPhase),
  },
);
export const ProjectPolicyBindingList = list(ProjectPolicyBinding, 'ProjectPolicyBinding');

export const CustomPolicyBindingSpec = struct('CustomPolicyBindingSpec', 'CustomPolicyBindingSpec defines a policy applied to chosen resources.', {
  finalizers: Type.Optional(SpecFinalizers()),
  tenantID: str(),
  domain: str(),
  lastDomain: str(),
  policyID: str(),
  resources: strings(),
  rulePrefix: str(),
  users: subjects('Users the policy applies to.'),
  groups: subjects('Groups the policy applies to.'),
});
export const CustomPolicyBinding = kind('CustomPolicyBinding', 'CustomPolicyBinding binds a policy to subjects on given resources.', {
  spec: Type.Optional(CustomPolicyBindingSpec),
  Status: Type.Optional(BindingPhase),
});
export const CustomPolicyBindingList = list(CustomPolicyBinding, 'CustomPolicyBinding');

export const Binding = struct('Binding', 'Binding references the objects a policy applies to.', {
  ...TypeMeta,
  users: subjects('Users to bind.'),
  groups: subjects('Groups to bind.'),
});
export type Binding = Static<typeof Binding>;
export const PolicyBinding = struct('PolicyBinding', 'PolicyBinding represents policies of a role.', {
  ...TypeMeta,
  policies: strings(),
});
export const ProjectPolicyBindingRequest = struct('ProjectPolicyBindingRequest', 'ProjectPolicyBindingRequest binds policies to subjects inside a project.', {
  ...TypeMeta,
  tenantID: str(),
  policies: strings(),
  users: subjects('Users to bind.'),
  groups: subjects('Groups to bind.'),
});
export type ProjectPolicyBindingRequest = Static<typeof ProjectPolicyBindingRequest>;

/** projects.auth.tkestack.io: a project as the auth group sees it (members and groups per policy). */
export const AuthProject = kind('Project', 'Project is a project as seen by access control: its members and groups.', {
  tenantID: str(),
  members: stringMap('Members maps user id to user name.'),
  groups: stringMap('Groups maps group id to group name.'),
});
export const AuthProjectList = list(AuthProject, 'Project');

// --- IdentityProvider / Client / ConfigMap ---------------------------------------------------------
export const IdentityProviderSpec = struct('IdentityProviderSpec', 'IdentityProviderSpec is a description of an identity provider.', {
  name: str('The Name of the connector that is used when displaying it to the end user.'),
  type: StringEnum(['local', 'ldap', 'oidc'], { description: 'The type of the connector: local, ldap or oidc.' }),
  administrators: strings('The administrators of the tenant (its platform administrators).'),
  config: str(
    'Raw JSON configuration of the connector (ldap: host, bindDN, bindPW, userSearch, groupSearch; oidc: issuer, clientID, usernameClaim, groupsClaim).',
  ),
});
export const IdentityProvider = kind(
  'IdentityProvider',
  'IdentityProvider is an object that contains the metadata about identity provider. Its name is the tenant ID.',
  {
    spec: Type.Optional(IdentityProviderSpec),
  },
);
export const IdentityProviderList = list(IdentityProvider, 'IdentityProvider');

export const ClientSpec = struct('ClientSpec', 'ClientSpec is a description of an client.', {
  id: str(),
  secret: str(),
  redirect_uris: strings(),
  trusted_peers: strings(),
  public: Type.Optional(Type.Boolean()),
  name: str(),
  logo_url: str(),
});
export const Client = kind('Client', 'Client represents an OAuth2 client.', { spec: Type.Optional(ClientSpec) });
export const ClientList = list(Client, 'Client');

export const ConfigMap = kind('ConfigMap', 'ConfigMap holds configuration data for tke to consume.', {
  data: stringMap('Data contains the configuration data.'),
  binaryData: Type.Optional(Type.Record(Type.String(), Type.String({ contentEncoding: 'base64' }))),
});
export const ConfigMapList = list(ConfigMap, 'ConfigMap');

/** Not a TKE kind: the audit trail of this server (every write and every denial), read-only. */
export const AuditEvent = kind('AuditEvent', 'AuditEvent records one write or one refused request: who, what, and the result.', {
  spec: Type.Optional(
    struct('AuditEventSpec', 'What happened.', {
      tenantID: str(),
      username: str(),
      groups: strings(),
      verb: str(),
      apiGroup: str(),
      resource: str(),
      subresource: str(),
      namespace: str(),
      name: str(),
      action: str(),
      tkeResource: str(),
      decision: str(),
      reason: str(),
      code: Type.Optional(Type.Integer()),
      time: Type.Optional(Field(Time, { description: 'When the request was answered.' })),
    }),
  ),
});
export const AuditEventList = list(AuditEvent, 'AuditEvent');
