// platform.tkestack.io/v1: the clusters TKE manages or imports.
import type { APIGroupInstaller } from '../../server/group.ts';
import { clusters } from './cluster.ts';

export const platformGroup: APIGroupInstaller = {
  name: 'platform.tkestack.io',
  build: () => ({ resources: [clusters] }),
};
