// clustercredentials.platform.tkestack.io: how TKE reaches a member cluster's kube-apiserver.
// Keys and tokens are secret fields: sealed at rest, masked for whoever may only read them.
// A credential of another tenant cannot be named by a cluster (see clusters' beforeWrite), and
// once a cluster uses it, clusterName is fixed.
import { ClusterCredential, ClusterCredentialList } from '../../../api/platform/v1/clustercredential.ts';
import { field, type FieldError } from '../../rest/errors.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { verbsWithoutDeleteCollection } from '../tke/kinds.ts';
import { defaultTopLevelTenant, tenantOf } from '../tke/tenant.ts';
import { platformGroupName } from './names.ts';
import type { StoredClusterCredential } from './stored.ts';

const secretKeys = ['etcdCAKey', 'etcdAPIClientKey', 'caKey', 'clientKey', 'token', 'bootstrapToken', 'certificateKey'];

function validateCredential(obj: StoredClusterCredential): FieldError[] {
  const errs: FieldError[] = [];
  if (Boolean(obj.clientCert) !== Boolean(obj.clientKey)) {
    errs.push(field.required(obj.clientCert ? 'clientKey' : 'clientCert', 'must specify both the public and private keys of the client certificate'));
  }
  for (const pem of ['caCert', 'clientCert', 'etcdCACert', 'etcdAPIClientCert'] as const) {
    const v = obj[pem];
    // Validation runs beside the schema's check, which reports a value that is not a string; only a string is decoded.
    if (typeof v === 'string' && v && !Buffer.from(v, 'base64').toString('latin1').includes('-----BEGIN CERTIFICATE-----'))
      errs.push(field.invalid(pem, '<bytes>', 'must be a PEM certificate, base64-encoded'));
  }
  return errs;
}

export const clusterCredentials: OpenAPIResource<typeof ClusterCredential> = {
  group: platformGroupName,
  version: 'v1',
  kind: 'ClusterCredential',
  listKind: 'ClusterCredentialList',
  resource: 'clustercredentials',
  singular: 'clustercredential',
  namespaced: false,
  shortNames: ['cc'],
  categories: [],
  schema: ClusterCredential,
  listSchema: ClusterCredentialList,
  subresources: {},
  verbs: verbsWithoutDeleteCollection,
  secretFields: secretKeys,
  strategy: {
    prepareForCreate(obj) {
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'cc-';
    },
    defaults: defaultTopLevelTenant,
    validate: validateCredential,
    validateUpdate(obj, old) {
      const errs = validateCredential(obj);
      if (tenantOf(obj) !== tenantOf(old)) errs.push(field.invalid('tenantID', tenantOf(obj), 'disallowed change the tenant'));
      if (old.clusterName && obj.clusterName !== old.clusterName)
        errs.push(field.invalid('clusterName', obj.clusterName ?? '', 'disallowed change the clusterName'));
      return errs;
    },
    columns: [
      { name: 'Cluster', type: 'string', format: '', description: 'The cluster this credential reaches.', priority: 0 },
      { name: 'Auth', type: 'string', format: '', description: 'How it authenticates: token, client certificate.', priority: 0 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant it belongs to.', priority: 1 },
    ],
    row: obj => [
      obj.clusterName ?? '',
      [obj.token ? 'token' : '', obj.clientCert ? 'client-certificate' : ''].filter(Boolean).join(',') || '<none>',
      tenantOf(obj),
    ],
    fieldSelectors: {
      tenantID: o => tenantOf(o),
      clusterName: o => o.clusterName ?? '',
    },
  },
};
