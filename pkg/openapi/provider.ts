// The OpenAPI documents the server hands out (satisfies pkg/server's OpenAPIProvider).
// Definitions are fixed for the life of the process, so each document is built once, on first
// request, and then served from memory.
import type { OpenAPIResource } from './builder.ts';
import { buildOpenAPIV2, buildOpenAPIV3Set, documentETag, openAPIV3Key, type OpenAPIInfo, type OpenAPIV3Set } from './builder.ts';
import type { JsonSchema } from './schema.ts';

export interface OpenAPIDocuments {
  v2(): JsonSchema;
  /** ETag of the v2 document (the SHA-512 Kubernetes uses). */
  v2ETag(): string;
  v3Index(): OpenAPIV3Set['index'];
  v3(group: string, version: string): JsonSchema | undefined;
  v3ETag(group: string, version: string): string | undefined;
}

export function openAPIProvider(defs: readonly OpenAPIResource[], serverVersion: string): OpenAPIDocuments {
  const info: OpenAPIInfo = { title: 'tke-apiserver', version: serverVersion.startsWith('v') ? serverVersion : `v${serverVersion}` };
  let v2: { document: JsonSchema; etag: string } | undefined;
  let v3: OpenAPIV3Set | undefined;
  const getV2 = () => {
    if (!v2) {
      const document = buildOpenAPIV2(defs, info);
      v2 = { document, etag: documentETag(document) };
    }
    return v2;
  };
  const getV3 = () => (v3 ??= buildOpenAPIV3Set(defs, info));
  return {
    v2: () => getV2().document,
    v2ETag: () => getV2().etag,
    v3Index: () => getV3().index,
    v3: (group, version) => getV3().documents.get(openAPIV3Key({ group, version }))?.document,
    v3ETag: (group, version) => getV3().documents.get(openAPIV3Key({ group, version }))?.etag,
  };
}
