// business.tkestack.io/v1 Portal: computed per caller, never stored. GET .../portal answers with
// one Portal object (not a list), as TKE's portal REST does. After tkestack/tke api/business/v1/types.go.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { TypeMeta } from '../../meta/v1/schema.ts';

export const PortalProject = Type.Object(
  {
    phase: Type.String({ description: 'Phases of projects.' }),
    parent: Type.String({ description: 'Parents of projects.' }),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.PortalProject',
    description: 'PortalProject is a project extension info for portal.',
  },
);
export type PortalProject = Static<typeof PortalProject>;

export const Portal = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    administrator: Type.Boolean({ description: 'Administrator indicates whether the user is a platform administrator' }),
    projects: Type.Record(Type.String(), Type.String(), {
      description:
        'Projects represents the list of projects to which the user belongs, where the key represents project name and the value represents the project display name.',
    }),
    extension: Type.Record(Type.String(), PortalProject, { description: 'Extension is extension info. for projects.' }),
  },
  {
    $id: 'io.tkestack.tke.api.business.v1.Portal',
    description: 'Portal is a user in TKE.',
  },
);
export type Portal = Static<typeof Portal>;
