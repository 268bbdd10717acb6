// clustercredentials.platform.tkestack.io: how TKE reaches a member cluster's kube-apiserver.
// Keys and tokens are secret fields: sealed at rest, masked for whoever may only read them.
// A credential of another tenant cannot be named by a cluster (see clusters' beforeWrite), and
// once a cluster uses it, clusterName is fixed.
import { ClusterCredential, ClusterCredentialList } from '../../../api/platform/v1/clustercredential.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { field, type FieldError } from '../../rest/errors.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { verbsWithoutDeleteCollection } from '../tke/kinds.ts';
import { defaultTopLevelTenant, tenantOf } from '../tke/tenant.ts';
import { platformGroupName } from './names.ts';

const secretKeys = ['etcdCAKey', 'etcdAPIClientKey', 'caKey', 'clientKey', 'token', 'bootstrapToken', 'certificateKey'];

const str = (obj: KubeObject, name: string): string => {
  const v = (obj as Record<string, unknown>)[name];
  return typeof v === 'string' ? v : '';
};

function validateCredential(obj: KubeObject): FieldError[] {
  const errs: FieldError[] = [];
  if (Boolean(str(obj, 'clientCert')) !== Boolean(str(obj, 'clientKey'))) {
    errs.push(field.required(str(obj, 'clientCert') ? 'clientKey' : 'clientCert', 'must specify both the public and private keys of the client certificate'));
  }
  for (const pem of ['caCert', 'clientCert', 'etcdCACert', 'etcdAPIClientCert']) {
    const v = str(obj, pem);
    if (v && !Buffer.from(v, 'base64').toString('latin1').includes('-----BEGIN CERTIFICATE-----')) errs.push(field.invalid(pem, '<bytes>', 'must be a PEM certificate, base64-encoded'));
  }
  return errs;
}

export const clusterCredentials: OpenAPIResource = {
  group: platformGroupName, version: 'v1', kind: 'ClusterCredential', listKind: 'ClusterCredentialList',
  resource: 'clustercredentials', singular: 'clustercredential', namespaced: false,
  shortNames: ['cc'], categories: [],
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
      if (str(old, 'clusterName') && str(obj, 'clusterName') !== str(old, 'clusterName')) errs.push(field.invalid('clusterName', str(obj, 'clusterName'), 'disallowed change the clusterName'));
      return errs;
    },
    columns: [
      { name: 'Cluster', type: 'string', format: '', description: 'The cluster this credential reaches.', priority: 0 },
      { name: 'Auth', type: 'string', format: '', description: 'How it authenticates: token, client certificate.', priority: 0 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant it belongs to.', priority: 1 },
    ],
    row: (obj) => [str(obj, 'clusterName'), [str(obj, 'token') ? 'token' : '', str(obj, 'clientCert') ? 'client-certificate' : ''].filter(Boolean).join(',') || '<none>', tenantOf(obj)],
    fieldSelectors: {
      tenantID: o => tenantOf(o),
      clusterName: o => str(o, 'clusterName'),
    },
  },
};
