// Discovery documents, legacy (/apis, /apis/<g>, /apis/<g>/<v>) and aggregated
// (apidiscovery.k8s.io/v2), all derived from the registered ResourceDefinitions.
import { allVerbs, type ResourceDefinition } from '../rest/resource.ts';

export const aggregatedConversions = [
  { as: 'APIGroupDiscoveryList', g: 'apidiscovery.k8s.io', v: 'v2' },
  { as: 'APIGroupDiscoveryList', g: 'apidiscovery.k8s.io', v: 'v2beta1' },
];

interface GroupVersions {
  group: string;
  versions: string[];
}

function groupsOf(defs: ResourceDefinition[]): GroupVersions[] {
  const groups = new Map<string, Set<string>>();
  for (const d of defs) {
    if (!groups.has(d.group)) groups.set(d.group, new Set());
    groups.get(d.group)!.add(d.version);
  }
  // The core group ('') is served under /api, never listed among the named groups of /apis.
  return [...groups].filter(([group]) => group !== '').map(([group, versions]) => ({ group, versions: [...versions] }));
}

function apiGroup(g: GroupVersions) {
  const versions = g.versions.map(v => ({ groupVersion: `${g.group}/${v}`, version: v }));
  return { name: g.group, versions, preferredVersion: versions[0] };
}

export class Discovery {
  constructor(private readonly defs: ResourceDefinition[]) {}

  apiVersions() {
    const versions = [...new Set(this.defs.filter(d => d.group === '').map(d => d.version))];
    return { kind: 'APIVersions', apiVersion: 'v1', versions, serverAddressByClientCIDRs: [] };
  }

  groupList() {
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: groupsOf(this.defs).map(apiGroup) };
  }

  group(name: string) {
    const g = groupsOf(this.defs).find(x => x.group === name);
    return g && { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup(g) };
  }

  resourceList(group: string, version: string) {
    const defs = this.defs.filter(d => d.group === group && d.version === version);
    if (defs.length === 0) return undefined;
    const resources: Record<string, unknown>[] = [];
    for (const d of defs) {
      resources.push({
        name: d.resource,
        singularName: d.singular,
        namespaced: d.namespaced,
        kind: d.kind,
        verbs: d.verbs ?? allVerbs,
        shortNames: d.shortNames,
        categories: d.categories,
      });
      for (const sub of subresourceNames(d)) {
        resources.push({ name: `${d.resource}/${sub.name}`, singularName: '', namespaced: d.namespaced, kind: sub.kind, verbs: sub.verbs });
      }
    }
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
  }

  /** apidiscovery.k8s.io APIGroupDiscoveryList for /apis (and an empty one for /api). */
  aggregated(apiVersion: string, legacy: boolean) {
    const core = this.defs.some(d => d.group === '') ? [{ group: '', versions: this.apiVersions().versions }] : [];
    const items = (legacy ? core : groupsOf(this.defs)).map(g => ({
      metadata: { name: g.group, creationTimestamp: null },
      versions: g.versions.map(v => ({
        version: v,
        freshness: 'Current',
        resources: this.defs
          .filter(d => d.group === g.group && d.version === v)
          .map(d => ({
            resource: d.resource,
            responseKind: { group: d.group, version: d.version, kind: d.kind },
            scope: d.namespaced ? 'Namespaced' : 'Cluster',
            singularResource: d.singular,
            verbs: d.verbs ?? allVerbs,
            shortNames: d.shortNames,
            categories: d.categories,
            subresources: subresourceNames(d).map(s => ({
              subresource: s.name,
              responseKind: { group: d.group, version: d.version, kind: s.kind },
              verbs: s.verbs,
            })),
          })),
      })),
    }));
    return { kind: 'APIGroupDiscoveryList', apiVersion, metadata: {}, items };
  }
}

function subresourceNames(d: ResourceDefinition): Array<{ name: string; kind: string; verbs: string[] }> {
  const out: Array<{ name: string; kind: string; verbs: string[] }> = [];
  if (d.subresources.status) out.push({ name: 'status', kind: d.kind, verbs: ['get', 'patch', 'update'] });
  if (d.subresources.finalize) out.push({ name: 'finalize', kind: d.kind, verbs: ['update'] });
  for (const [name, sub] of Object.entries(d.subresources.custom ?? {})) out.push({ name, kind: sub.kind, verbs: sub.verbs });
  return out;
}
