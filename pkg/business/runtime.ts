// The server facilities (storage, the CA) that business handlers need but that exist only once
// the group is installed: kinds are declared before the server is built, so they reach these
// through this late-bound holder, filled by businessGroup.install().
import { errors } from '../rest/errors.ts';
import type { GroupContext } from '../server/group.ts';

let installed: GroupContext | undefined;

export function bindGroupContext(ctx: GroupContext): void {
  installed = ctx;
}

export function groupContext(): GroupContext {
  if (!installed) throw errors.unavailable('the business.tkestack.io group is not installed yet');
  return installed;
}
