export { buildOpenAPIV2, buildOpenAPIV3, buildOpenAPIV3Set, conventionalName, documentETag, openAPIV3Key } from './builder.ts';
export type { GroupVersion, OpenAPIInfo, OpenAPIResource, OpenAPIV3Set } from './builder.ts';
export { openAPIProvider, type OpenAPIDocuments } from './provider.ts';
export { DefinitionSet, type JsonSchema } from './schema.ts';
export { SchemaWalker, embedded, fieldSchema, isNamedField, itemSchema, type ListInfo, type PatchMeta, type SchemaShape, type SchemaView } from './walk.ts';
