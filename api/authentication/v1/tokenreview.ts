// authentication.k8s.io/v1 TokenReview: the body kube-apiserver's token webhook
// (--authentication-token-webhook-config-file) sends, and the status it expects back.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { TypeMeta } from '../../meta/v1/schema.ts';

const id = (name: string) => `io.k8s.api.authentication.v1.${name}`;

export const UserInfo = Type.Object(
  {
    username: Type.Optional(Type.String({ description: 'The name that uniquely identifies this user among all active users.' })),
    uid: Type.Optional(Type.String()),
    groups: Type.Optional(Type.Array(Type.String())),
    extra: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
  },
  { $id: id('UserInfo'), description: 'UserInfo holds the information about the user needed to implement the user.Info interface.' },
);

export const TokenReviewSpec = Type.Object(
  {
    token: Type.Optional(Type.String({ description: 'Token is the opaque bearer token.' })),
    audiences: Type.Optional(Type.Array(Type.String())),
  },
  { $id: id('TokenReviewSpec'), description: 'TokenReviewSpec is a description of the token authentication request.' },
);

export const TokenReviewStatus = Type.Object(
  {
    authenticated: Type.Optional(Type.Boolean()),
    user: Type.Optional(UserInfo),
    audiences: Type.Optional(Type.Array(Type.String())),
    error: Type.Optional(Type.String()),
  },
  { $id: id('TokenReviewStatus'), description: 'TokenReviewStatus is the result of the token authentication request.' },
);

export const TokenReview = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    spec: TokenReviewSpec,
    status: Type.Optional(TokenReviewStatus),
  },
  { $id: id('TokenReview'), description: 'TokenReview attempts to authenticate a token to a known user.' },
);
export type TokenReview = Static<typeof TokenReview>;
