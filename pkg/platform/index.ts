import type { APIGroupInstaller } from '../server/group.ts';
import { clusters } from './cluster.ts';

export const platformGroup: APIGroupInstaller = {
  name: 'platform.tkestack.io',
  resources: [clusters],
};
