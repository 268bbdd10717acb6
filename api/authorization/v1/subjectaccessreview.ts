// authorization.k8s.io/v1 SubjectAccessReview: the body kube-apiserver's authorization webhook
// (--authorization-webhook-config-file) sends, and the status it expects back.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { TypeMeta } from '../../meta/v1/schema.ts';

const id = (name: string) => `io.k8s.api.authorization.v1.${name}`;
const str = () => Type.Optional(Type.String());

export const ResourceAttributes = Type.Object(
  {
    namespace: str(),
    verb: str(),
    group: str(),
    version: str(),
    resource: str(),
    subresource: str(),
    name: str(),
  },
  { $id: id('ResourceAttributes'), description: 'ResourceAttributes includes the authorization attributes available for resource requests.' },
);

export const NonResourceAttributes = Type.Object(
  { path: str(), verb: str() },
  {
    $id: id('NonResourceAttributes'),
    description: 'NonResourceAttributes includes the authorization attributes available for non-resource requests.',
  },
);

export const SubjectAccessReviewSpec = Type.Object(
  {
    resourceAttributes: Type.Optional(ResourceAttributes),
    nonResourceAttributes: Type.Optional(NonResourceAttributes),
    user: str(),
    groups: Type.Optional(Type.Array(Type.String())),
    extra: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
    uid: str(),
  },
  { $id: id('SubjectAccessReviewSpec'), description: 'SubjectAccessReviewSpec is a description of the access request.' },
);

export const SubjectAccessReviewStatus = Type.Object(
  {
    allowed: Type.Boolean(),
    denied: Type.Optional(Type.Boolean()),
    reason: str(),
    evaluationError: str(),
  },
  { $id: id('SubjectAccessReviewStatus'), description: 'SubjectAccessReviewStatus' },
);

export const SubjectAccessReview = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    spec: SubjectAccessReviewSpec,
    status: Type.Optional(SubjectAccessReviewStatus),
  },
  { $id: id('SubjectAccessReview'), description: 'SubjectAccessReview checks whether or not a user or group can perform an action.' },
);
export type SubjectAccessReview = Static<typeof SubjectAccessReview>;
