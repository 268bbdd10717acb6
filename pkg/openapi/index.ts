export { buildOpenAPIV2, buildOpenAPIV3, buildOpenAPIV3Set, conventionalName, documentETag, openAPIV3Key } from './builder.ts';
export type { GroupVersion, OpenAPIInfo, OpenAPIResource, OpenAPIV3Set } from './builder.ts';
export { openAPIProvider, type OpenAPIDocuments } from './provider.ts';
export { DefinitionSet, SchemaResolver, type JsonSchema } from './schema.ts';
