// Every API group this server serves; each brings its kinds and whatever it adds to the shared machinery.
import type { APIGroupInstaller } from '../server/group.ts';
import { authGroup } from './auth/index.ts';
import { businessGroup } from './business/index.ts';
import { eventsGroup } from './events/index.ts';
import { platformGroup } from './platform/index.ts';
import { registryGroup } from './registry/index.ts';

export const apiGroups: APIGroupInstaller[] = [platformGroup, businessGroup, authGroup, registryGroup, eventsGroup];
