// registries.platform.tkestack.io: a third-party image registry a tenant's clusters pull from.
// Its password is a secret field, kept on a masked write-back only while the URL is unchanged.
import { Registry, RegistryList } from '../../../api/platform/v1/registry.ts';
import { field, type FieldError } from '../../rest/errors.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import type { ObjectOf } from '../../rest/resource.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { requireUnchanged, verbsWithoutDeleteCollection } from '../tke/kinds.ts';
import { defaultTenant } from '../tke/tenant.ts';
import { platformGroupName } from './names.ts';

function validateRegistry(obj: ObjectOf<typeof Registry>): FieldError[] {
  const errs: FieldError[] = [];
  const { displayName, url } = obj.spec ?? {};
  if (!displayName) errs.push(field.required('spec.displayName'));
  if (!url) errs.push(field.required('spec.url'));
  // Validation runs beside the schema's check, which reports a url that is not a string; only a string is parsed.
  else if (typeof url === 'string' && !/^[A-Za-z0-9.\-[\]:]+(\/[A-Za-z0-9._\-/]*)?$/.test(url.replace(/^https?:\/\//, '')))
    errs.push(field.invalid('spec.url', url, 'must be a registry host, optionally with a port and a path'));
  return errs;
}

export const registries: OpenAPIResource<typeof Registry> = {
  group: platformGroupName,
  version: 'v1',
  kind: 'Registry',
  listKind: 'RegistryList',
  resource: 'registries',
  singular: 'registry',
  namespaced: false,
  shortNames: [],
  categories: [],
  schema: Registry,
  listSchema: RegistryList,
  subresources: {},
  verbs: verbsWithoutDeleteCollection,
  secretFields: ['spec.password'],
  secretTargets: { spec: ['url', 'userName'] },
  strategy: {
    prepareForCreate(obj) {
      if (!obj.metadata.name && !obj.metadata.generateName) obj.metadata.generateName = 'reg-';
    },
    defaults: defaultTenant,
    validate: validateRegistry,
    validateUpdate: (obj, old) => [...requireUnchanged(obj, old, ['tenantID']), ...validateRegistry(obj)],
    columns: [
      { name: 'Display Name', type: 'string', format: '', description: 'The name shown to people.', priority: 0 },
      { name: 'URL', type: 'string', format: '', description: 'The registry address.', priority: 0 },
      { name: 'Cluster', type: 'string', format: '', description: 'The cluster it is for, if one.', priority: 1 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant it belongs to.', priority: 1 },
    ],
    row: obj => [obj.spec?.displayName ?? '', obj.spec?.url ?? '', obj.spec?.clusterName ?? '', obj.spec?.tenantID ?? ''],
    fieldSelectors: fieldsAt('spec.tenantID', 'spec.clusterName', 'spec.url'),
  },
};
