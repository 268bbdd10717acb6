// namespaces.business.tkestack.io: a Kubernetes namespace of one cluster granted to a project;
// it lives in the namespace named after that project. Its spec.hard comes out of the project's
// quota for that cluster, checked inside the write transaction.
import { BusinessFinalizer } from '../../../api/business/v1/types.ts';
import { Namespace, NamespaceList } from '../../../api/business/v1/namespace.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { OpenAPIResource } from '../../openapi/builder.ts';
import { errors, field, type FieldError } from '../../rest/errors.ts';
import type { WriteContext } from '../../rest/resource.ts';
import { defaultTenant, tenantOf } from '../tke/tenant.ts';
import { isDeepStrictEqual } from 'node:util';
import { namespaceCertificate, type CertificateDeps } from './certificate.ts';
import { canonicalizeResourceList } from './quantity.ts';
import { requireUnchanged } from '../tke/kinds.ts';
import { asNamespace, isDeleting, keys, readProject, type StoredNamespace } from './stored.ts';
import { allocationId, checkAllocationFits, limitsIn, lockAll, quotaLockName, type ProjectAllocations, type Subject } from './quota.ts';
import { validateResourceList } from './resourcenames.ts';
import { fieldsAt } from '../../rest/selectors.ts';
import { specFinalizers } from '../tke/finalizers.ts';
import { readCluster } from '../platform/stored.ts';

const gr = { group: 'business.tkestack.io', resource: 'namespaces' };
const subjectOf = (obj: KubeObject): Subject => ({ gr, group: gr.group, kind: 'Namespace', name: obj.metadata.name ?? '' });

/** Namespaces of a cluster that belong to the cluster itself, never to a project. */
const reservedNamespaces = new Set(['kube-system', 'kube-public', 'kube-node-lease']);
const dnsLabel = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * The project an NsEmigration moved the namespace out of, set by the move itself (never by a
 * client: create drops it, update keeps the stored value). It lets the namespace controller take
 * over the member namespace that still carries that project's label, and nothing else.
 */
export const emigratedFromAnnotation = 'business.tkestack.io/emigrated-from';

function keepServerAnnotation(obj: KubeObject, old: KubeObject | undefined): void {
  const annotations = { ...(obj.metadata.annotations ?? {}) };
  delete annotations[emigratedFromAnnotation];
  const stored = old?.metadata.annotations?.[emigratedFromAnnotation];
  if (stored !== undefined) annotations[emigratedFromAnnotation] = stored;
  if (Object.keys(annotations).length) obj.metadata.annotations = annotations;
  else delete obj.metadata.annotations;
}

/** Serializes the claims on one Kubernetes namespace of one cluster, across all projects. */
export const claimLockName = (cluster: string, namespace: string) => `namespace-claim:${cluster}/${namespace}`;

function validateNamespace(obj: StoredNamespace): FieldError[] {
  const problems: FieldError[] = [];
  if (!obj.spec?.clusterName) problems.push(field.required('spec.clusterName', 'Required value: must specify cluster name'));
  const ns = obj.spec?.namespace;
  if (!ns) problems.push(field.required('spec.namespace', 'Required value: must specify namespace name'));
  else if (!dnsLabel.test(ns) || ns.length > 63)
    problems.push(
      field.invalid(
        'spec.namespace',
        ns,
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character",
      ),
    );
  else if (reservedNamespaces.has(ns)) problems.push(field.invalid('spec.namespace', ns, `cannot allocate the cluster's \`${ns}\` namespace in the project`));
  problems.push(...validateResourceList(obj.spec?.hard, 'spec.hard'));
  return problems;
}

/**
 * Admits one namespace (created, or with changed hard) against its project: the project exists
 * in the same tenant and is not terminating, the cluster exists and is one of the project's, the
 * Kubernetes namespace is not claimed by any other business namespace in that cluster, and the
 * hard limits fit in what the project has left there.
 */
export async function admitNamespaceInProject(
  obj: StoredNamespace,
  old: StoredNamespace | undefined,
  tx: WriteContext['tx'],
  allocations: ProjectAllocations,
  extraLocks: string[] = [],
): Promise<void> {
  const project = obj.metadata.namespace!;
  const self = obj.metadata.name!;
  const cluster = obj.spec?.clusterName ?? '';
  const k8sNamespace = obj.spec?.namespace ?? '';
  await lockAll(tx, [quotaLockName(project), ...(old ? [] : [claimLockName(cluster, k8sNamespace)]), ...extraLocks]);
  const subject = subjectOf(obj);
  const projectObj = await readProject(tx, project);
  if (!projectObj || tenantOf(projectObj) !== tenantOf(obj)) {
    throw errors.invalid(gr.group, 'Namespace', self, [{ field: 'metadata.namespace', reason: 'FieldValueNotFound', message: `Not found: "${project}"` }]);
  }
  if (!old) {
    if (isDeleting(projectObj)) throw errors.forbidden(gr, self, `unable to create new content in project "${project}" because it is being terminated`);
    const clusterObj = await readCluster(tx, cluster);
    if (!clusterObj || tenantOf(clusterObj) !== tenantOf(obj)) {
      throw errors.invalid(gr.group, 'Namespace', self, [{ field: 'spec.clusterName', reason: 'FieldValueNotFound', message: `Not found: "${cluster}"` }]);
    }
    const claimed = await tx.list(keys.namespaces(), {
      fields: { 'spec.clusterName': cluster, 'spec.namespace': k8sNamespace },
      filter: o => {
        const other = asNamespace(o);
        return other.spec?.clusterName === cluster && other.spec?.namespace === k8sNamespace && !(o.metadata.namespace === project && o.metadata.name === self);
      },
    });
    if (claimed.length) {
      const holder = claimed[0];
      throw errors.invalid(
        gr.group,
        'Namespace',
        self,
        [field.duplicate('spec.namespace', k8sNamespace)].map(e => ({
          ...e,
          message: `${e.message}: namespace "${k8sNamespace}" of cluster "${cluster}" already belongs to ${holder.metadata.namespace}/${holder.metadata.name}`,
        })),
      );
    }
  }
  const limited = Object.keys(limitsIn(projectObj, cluster) ?? {}).length > 0;
  // Nothing to add up in a cluster the project does not limit (the lock above still orders this
  // write against a concurrent change of the project's limits).
  const handedOut = limited ? await allocations.read(tx, project) : [];
  checkAllocationFits(
    projectObj,
    handedOut,
    { holder: `namespace "${project}/${self}"`, id: allocationId.namespace(project, self), cluster, hard: obj.spec?.hard ?? {} },
    subject,
    'spec.hard',
  );
}

async function admitNamespace(obj: StoredNamespace, old: StoredNamespace | undefined, ctx: WriteContext, allocations: ProjectAllocations): Promise<void> {
  if (ctx.subresource !== '') return;
  if (old && isDeepStrictEqual(obj.spec?.hard ?? {}, old.spec?.hard ?? {})) return;
  await admitNamespaceInProject(obj, old, ctx.tx, allocations);
}

export const namespaces = (allocations: ProjectAllocations, certificates: CertificateDeps): OpenAPIResource<typeof Namespace> => ({
  group: 'business.tkestack.io',
  version: 'v1',
  kind: 'Namespace',
  listKind: 'NamespaceList',
  resource: 'namespaces',
  singular: 'namespace',
  namespaced: true,
  shortNames: ['ns'],
  categories: ['tke', 'all'],
  schema: Namespace,
  listSchema: NamespaceList,
  subresources: { status: true, finalize: specFinalizers, custom: { certificate: namespaceCertificate(certificates) } },
  strategy: {
    prepareForCreate(obj) {
      // TKE names a namespace after its cluster and Kubernetes namespace; a client-chosen name is kept.
      if (!obj.metadata.name && !obj.metadata.generateName) {
        const cluster = obj.spec?.clusterName;
        const ns = obj.spec?.namespace;
        if (cluster && ns) obj.metadata.name = `${cluster}-${ns}`;
        else obj.metadata.generateName = 'ns-';
      }
      delete obj.status;
      keepServerAnnotation(obj, undefined);
      // The namespace controller removes it once the namespace is released.
      obj.spec = { ...(obj.spec ?? {}), finalizers: [BusinessFinalizer.Namespace] };
    },
    prepareForUpdate: (obj, old) => keepServerAnnotation(obj, old),
    defaults(obj) {
      defaultTenant(obj);
      canonicalizeResourceList(obj.spec?.hard);
    },
    validate: validateNamespace,
    validateUpdate: (obj, old) => requireUnchanged(obj, old, ['clusterName', 'namespace', 'tenantID']),
    allowUnconditionalUpdate: false,
    beforeWrite: (obj, old, ctx) => admitNamespace(obj, old, ctx, allocations),
    columns: [
      { name: 'Cluster', type: 'string', format: '', description: 'The cluster the namespace is in.', priority: 0 },
      {
        name: 'Kubernetes Namespace',
        type: 'string',
        format: '',
        description: 'The Kubernetes namespace this object stands for (the NAMESPACE column of -A is the project).',
        priority: 0,
      },
      { name: 'Phase', type: 'string', format: '', description: 'The lifecycle phase of the namespace.', priority: 0 },
      { name: 'Hard', type: 'string', format: '', description: 'The quota granted to the namespace.', priority: 1 },
      { name: 'Tenant', type: 'string', format: '', description: 'The tenant the namespace belongs to.', priority: 1 },
    ],
    row: obj => [
      obj.spec?.clusterName ?? '',
      obj.spec?.namespace ?? '',
      obj.status?.phase ?? '',
      Object.entries(obj.spec?.hard ?? {})
        .map(([r, v]) => `${r}=${v}`)
        .join(','),
      obj.spec?.tenantID ?? '',
    ],
    fieldSelectors: {
      ...fieldsAt('spec.tenantID', 'status.phase'),
      'spec.clusterName': o => o.spec?.clusterName ?? '',
      'spec.namespace': o => o.spec?.namespace ?? '',
    },
  },
});
