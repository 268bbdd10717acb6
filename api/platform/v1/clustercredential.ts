// platform.tkestack.io/v1 ClusterCredential (cluster-scoped): what TKE needs to reach a member
// cluster's kube-apiserver (CA, client certificate and key, or a token, and whom to impersonate),
// after tkestack/tke api/platform/v1/types.go. Keys and tokens are secret fields (sealed at rest,
// masked for readers). []byte fields are base64 on the wire, as Go encodes them.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { ListOf, TypeMeta } from '../../meta/v1/schema.ts';

const bytes = (description?: string) => Type.Optional(Type.String({ format: 'byte', ...(description ? { description } : {}) }));

export const ClusterCredential = Type.Object(
  {
    ...TypeMeta,
    metadata: Type.Optional(ObjectMeta),
    tenantID: Type.Optional(Type.String()),
    clusterName: Type.Optional(Type.String({ description: 'The cluster this credential reaches.' })),
    etcdCACert: bytes('For TKE in global reuse.'),
    etcdCAKey: bytes(),
    etcdAPIClientCert: bytes(),
    etcdAPIClientKey: bytes(),
    caCert: bytes('For connect the cluster: the CA its kube-apiserver serves with.'),
    caKey: bytes('The key of that CA: with it TKE signs certificates the cluster accepts.'),
    clientCert: bytes('For kube-apiserver X509 auth.'),
    clientKey: bytes('For kube-apiserver X509 auth.'),
    token: Type.Optional(Type.String({ description: 'For kube-apiserver token auth.' })),
    bootstrapToken: Type.Optional(Type.String({ description: 'For kubeadm init or join.' })),
    certificateKey: Type.Optional(Type.String({ description: 'For kubeadm init or join.' })),
    username: Type.Optional(Type.String({ description: 'Username is the username for basic authentication to the kubernetes cluster.' })),
    as: Type.Optional(Type.String({ description: 'Impersonate is the username to act-as.' })),
    'as-groups': Type.Optional(Type.Array(Type.String(), { description: 'ImpersonateGroups is the groups to imperonate.' })),
    'as-user-extra': Type.Optional(
      Type.Record(Type.String(), Type.String(), { description: 'ImpersonateUserExtra contains additional information for impersonated user.' }),
    ),
  },
  {
    $id: 'io.tkestack.tke.api.platform.v1.ClusterCredential',
    description: 'ClusterCredential records the credential information needed to access the cluster.',
  },
);
export type ClusterCredential = Static<typeof ClusterCredential>;

export const ClusterCredentialList = ListOf(ClusterCredential, {
  $id: 'io.tkestack.tke.api.platform.v1.ClusterCredentialList',
  description: 'ClusterCredentialList is the whole list of all ClusterCredential which owned by a tenant.',
  itemsDescription: 'List of clusters',
});
