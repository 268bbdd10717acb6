// ImageNamespace and ChartGroup: a project's handle on a registry namespace or a Helm chart
// group. TKE declares them as two Go types with the same fields, so one builder makes both,
// each with its own definition names. After tkestack/tke api/business/v1/types.go.
import { Type, type Static } from '@sinclair/typebox';
import { ObjectMeta } from '../../meta/v1/types.ts';
import { Field, ListOf, SpecFinalizers, StringEnum, Time, TypeMeta } from '../../meta/v1/schema.ts';

/** The phases both kinds share (ImageNamespacePhase, ChartGroupPhase). */
export const RegistryObjectPhase = {
  /** Declared, not yet created in the registry. */
  Pending: 'Pending',
  /** Available to the project. */
  Available: 'Available',
  /** Locked. */
  Locked: 'Locked',
  /** Creating or deleting it in the registry failed. */
  Failed: 'Failed',
  /** Undergoing graceful termination. */
  Terminating: 'Terminating',
} as const;
export type RegistryObjectPhase = (typeof RegistryObjectPhase)[keyof typeof RegistryObjectPhase];

interface Names {
  kind: string;
  what: string;
  listItems: string;
}

function build({ kind, what, listItems }: Names) {
  const id = (name: string) => `io.tkestack.tke.api.business.v1.${name}`;
  const spec = Type.Object(
    {
      finalizers: Type.Optional(SpecFinalizers()),
      name: Type.Optional(Type.String()),
      tenantID: Type.Optional(Type.String()),
      displayName: Type.Optional(Type.String()),
    },
    { $id: id(`${kind}Spec`), description: `${kind}Spec represents ${what}.` },
  );
  const status = Type.Object(
    {
      phase: Type.Optional(StringEnum(Object.values(RegistryObjectPhase), { default: RegistryObjectPhase.Pending })),
      lastTransitionTime: Type.Optional(Field(Time, { description: 'The last time the condition transitioned from one status to another.' })),
      reason: Type.Optional(Type.String({ description: "The reason for the condition's last transition." })),
      message: Type.Optional(Type.String({ description: 'A human readable message indicating details about the transition.' })),
    },
    { $id: id(`${kind}Status`), description: `${kind}Status represents information about the status of ${what}.` },
  );
  const object = Type.Object(
    {
      ...TypeMeta,
      metadata: Type.Optional(ObjectMeta),
      spec: Type.Optional(Field(spec, { description: 'Spec defines the desired identities of namespaces in this set.', default: {} })),
      status: Type.Optional(Field(status, { default: {} })),
    },
    { $id: id(kind), description: `${kind} is ${what}.` },
  );
  const list = ListOf(object, {
    $id: id(`${kind}List`),
    description: `${kind}List is the whole list of all ${listItems} which owned by a tenant.`,
    itemsDescription: `List of ${listItems}`,
  });
  return { spec, status, object, list };
}

const imageNamespace = build({ kind: 'ImageNamespace', what: 'an image namespace', listItems: 'image namespaces' });
export const ImageNamespaceSpec = imageNamespace.spec;
export const ImageNamespaceStatus = imageNamespace.status;
export const ImageNamespace = imageNamespace.object;
export const ImageNamespaceList = imageNamespace.list;
export type ImageNamespace = Static<typeof ImageNamespace>;

const chartGroup = build({ kind: 'ChartGroup', what: 'a chart group', listItems: 'chart groups' });
export const ChartGroupSpec = chartGroup.spec;
export const ChartGroupStatus = chartGroup.status;
export const ChartGroup = chartGroup.object;
export const ChartGroupList = chartGroup.list;
export type ChartGroup = Static<typeof ChartGroup>;
