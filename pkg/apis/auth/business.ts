// Where TKE's access control meets business objects. Admission plugins of the auth group that
// run inside the business write's transaction, so a project and the bindings it implies commit
// together, and a write that would reach beyond the caller's rights is refused before it lands:
//  - naming a parent project, or taking a project from one, needs the right to update that
//    parent (the child draws on the parent's quota); a top-level project's quota is a platform
//    right (updating projects at the platform level, not inside one project);
//  - a project's spec.members hold TKE's project-owner policy in it, as TKE's project controller
//    binds them;
//  - a Platform's spec.administrators are the tenant's administrators: they are written to the
//    tenant's identity provider, which the authorizer reads, by those who may update it.
import { isDeepStrictEqual } from 'node:util';
import type { Platform } from '../../../api/business/v1/platform.ts';
import type { Project } from '../../../api/business/v1/project.ts';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import type { AdmissionAttributes, AdmissionPlugin } from '../../rest/admission.ts';
import { errors } from '../../rest/errors.ts';
import type { ObjectOf, UserInfo } from '../../rest/resource.ts';
import { tenantOf } from '../tke/tenant.ts';
import type { ObjectRequest } from '../../server/authz.ts';
import { authGroupName, serverObject, type AuthState } from './state.ts';
import { asStored, key, readStored } from './stored.ts';

const businessGroup = 'business.tkestack.io';

export interface BusinessAccessDeps {
  state: AuthState;
  allowed(user: UserInfo, r: ObjectRequest): Promise<boolean>;
}

// Admission sees the object after its kind's schema has checked it, and the stored one it replaces:
// the one place the business objects these plugins read are taken to be of their schema's type.
const asProject = (o: KubeObject) => o as ObjectOf<typeof Project>;
const asPlatform = (o: KubeObject) => o as ObjectOf<typeof Platform>;

const names = (v: string[] | undefined): string[] => (v ?? []).filter(x => x !== '');

/** What a write adds to and removes from a list of names (members, administrators). */
function nameChanges(next: string[] | undefined, before: string[] | undefined): { added: string[]; removed: string[] } {
  const now = names(next);
  const was = names(before);
  return { added: now.filter(m => !was.includes(m)), removed: was.filter(m => !now.includes(m)) };
}

function mainWrite(a: Pick<AdmissionAttributes, 'operation' | 'resource' | 'subresource'>, resource: string): boolean {
  return a.resource.group === businessGroup && a.resource.resource === resource && a.subresource === '' && a.operation !== 'DELETE';
}

export function businessAccessPlugins(deps: BusinessAccessDeps): AdmissionPlugin[] {
  const requireUpdateOfProject = async (a: AdmissionAttributes, project: string, why: string) => {
    if (await deps.allowed(a.user, { verb: 'update', apiGroup: businessGroup, resource: 'projects', name: project })) return;
    throw errors.forbidden({ group: businessGroup, resource: 'projects' }, a.name, `User "${a.user.username}" ${why}`);
  };

  const projectHierarchy: AdmissionPlugin = {
    name: 'ProjectHierarchyRights',
    handles: a => mainWrite(a, 'projects'),
    async validate(a) {
      const obj = asProject(a.object!);
      const old = a.oldObject && asProject(a.oldObject);
      const parent = obj.spec?.parentProjectName ?? '';
      const oldParent = old?.spec?.parentProjectName ?? '';
      if (old && parent !== oldParent && oldParent) {
        await requireUpdateOfProject(a, oldParent, `cannot take project "${a.name}" from parent "${oldParent}": that needs the right to update "${oldParent}"`);
      }
      if (parent && (!old || parent !== oldParent)) {
        await requireUpdateOfProject(
          a,
          parent,
          `cannot make "${parent}" the parent of "${a.name}": that needs the right to update "${parent}", whose quota the project draws on`,
        );
      }
      const quotaChanged = old && !isDeepStrictEqual(obj.spec?.clusters ?? {}, old.spec?.clusters ?? {});
      const becameTopLevel = old && !parent && oldParent;
      if (!quotaChanged && !becameTopLevel) return;
      if (parent) {
        await requireUpdateOfProject(
          a,
          parent,
          `cannot change the quota of "${a.name}": it is carved out of parent "${parent}", which the user may not update`,
        );
      } else if (!(await deps.allowed(a.user, { verb: 'update', apiGroup: businessGroup, resource: 'projects', name: '' }))) {
        throw errors.forbidden(
          { group: businessGroup, resource: 'projects' },
          a.name,
          `User "${a.user.username}" cannot give top-level project "${a.name}" its quota: that is a platform right (update of projects outside any one project)`,
        );
      }
    },
  };

  const projectOwners: AdmissionPlugin = {
    name: 'ProjectMembers',
    handles: a => mainWrite(a, 'projects'),
    async validate(a) {
      const { added, removed } = nameChanges(asProject(a.object!).spec?.members, a.oldObject && asProject(a.oldObject).spec?.members);
      if (!added.length && !removed.length) return;
      const tenant = tenantOf(a.object!);
      const policy = `pol-${tenant}-project-owner`;
      const bindingKey = key('projectpolicybindings', `${a.name}-${policy}`);
      // A new project has no owner binding yet: presumed so, it costs no read (a leftover one
      // makes the transaction run again, and then it is read).
      const stored = a.oldObject ? await a.tx.get(bindingKey, { forUpdate: true }) : await a.tx.getPresumedAbsent(bindingKey);
      const binding = stored && asStored('projectpolicybindings', stored);
      const current = binding?.spec?.users ?? [];
      const next = current.filter(u => !removed.includes(u.name ?? ''));
      for (const m of added) if (!next.some(u => u.name === m)) next.push({ id: m, name: m });
      // Queued: they go with the project's own write, so the transaction holds revisions for one message.
      if (binding) {
        await a.tx.updateLater(bindingKey, { ...binding, spec: { ...binding.spec, users: next } }, binding.metadata.resourceVersion);
      } else {
        await a.tx.createLater(
          bindingKey,
          serverObject('ProjectPolicyBinding', bindingKey.name, {
            spec: { tenantID: tenant, projectID: a.name, policyID: policy, users: next, groups: [] },
            Status: { phase: 'Active' },
          }),
        );
      }
      deps.state.invalidate();
    },
  };

  const platformAdministrators: AdmissionPlugin = {
    name: 'PlatformAdministrators',
    handles: a => mainWrite(a, 'platforms'),
    async validate(a) {
      const { added, removed } = nameChanges(asPlatform(a.object!).spec?.administrators, a.oldObject && asPlatform(a.oldObject).spec?.administrators);
      if (!added.length && !removed.length) return;
      const tenant = tenantOf(a.object!);
      if (!(await deps.allowed(a.user, { verb: 'update', apiGroup: authGroupName, resource: 'identityproviders', name: tenant }))) {
        throw errors.forbidden(
          { group: businessGroup, resource: 'platforms' },
          a.name,
          `User "${a.user.username}" cannot change the administrators of tenant "${tenant}": that needs the right to update identity provider "${tenant}"`,
        );
      }
      const idp = await readStored(a.tx, 'identityproviders', tenant, { forUpdate: true });
      if (!idp)
        throw errors.invalid(businessGroup, 'Platform', a.name, [{ field: 'spec.tenantID', reason: 'FieldValueNotFound', message: `Not found: "${tenant}"` }]);
      const current = names(idp.spec?.administrators);
      const next = [...current.filter(u => !removed.includes(u)), ...added.filter(u => !current.includes(u))];
      await a.tx.updateLater(key('identityproviders', tenant), { ...idp, spec: { ...idp.spec, administrators: next } }, idp.metadata.resourceVersion);
      deps.state.invalidate();
    },
  };

  return [projectHierarchy, projectOwners, platformAdministrators];
}
