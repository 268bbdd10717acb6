// POST clusters/<name>/apply: a manifest (JSON or YAML, any number of documents) created or
// updated in the member, as TKE's ApplyREST: every object is looked up first and the whole
// batch refused before anything is written when one cannot be applied (no name, a
// resourceVersion given, or present while ?notUpdate=true); then each is created or replaced.
// The answer is a Status: Success with one line per object, or the member's refusal as it is.
// Each read and write is authorized as the caller's own request into the member would be.
import type { IncomingMessage } from 'node:http';
import { parseAllDocuments } from 'yaml';
import type { KubeObject } from '../../../api/meta/v1/types.ts';
import { errors, StatusError } from '../../rest/errors.ts';
import { maxRequestBodyBytes } from '../../server/apiserver.ts';
import type { MemberClient } from './proxy.ts';

interface Planned {
  obj: KubeObject;
  kind: string;
  name: string;
  /** Collection path of its resource in the member. */
  collection: string;
  create: boolean;
}

const status = (code: number, reason: string, message: string, details?: Record<string, unknown>) => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: code < 300 ? 'Success' : 'Failure',
  code,
  ...(reason ? { reason } : {}),
  message,
  ...(details ? { details } : {}),
});

async function readManifest(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxRequestBodyBytes) throw errors.tooLarge(`Request entity too large: limit is ${maxRequestBodyBytes}`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The objects of a manifest: YAML documents (JSON is one), empty and null ones skipped. */
export function manifestObjects(text: string): KubeObject[] {
  const out: KubeObject[] = [];
  for (const doc of parseAllDocuments(text)) {
    if (doc.errors.length) throw errors.badRequest(`error parsing: ${doc.errors[0].message.split('\n')[0]}`);
    const value = doc.toJS() as unknown;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw errors.badRequest('error parsing: a document is not an object');
    const obj = value as KubeObject;
    if (typeof obj.kind !== 'string' || !obj.kind) throw errors.badRequest(`Object 'Kind' is missing in '${JSON.stringify(obj).slice(0, 200)}'`);
    if (typeof obj.apiVersion !== 'string' || !obj.apiVersion)
      throw errors.badRequest(`Object 'apiVersion' is missing in '${JSON.stringify(obj).slice(0, 200)}'`);
    obj.metadata ??= {};
    out.push(obj);
  }
  return out;
}

/** Where the member serves a kind: its resource's collection path, found by the member's discovery. */
async function collectionOf(client: MemberClient, discovered: Map<string, any>, obj: KubeObject): Promise<{ collection: string; namespace: string }> {
  const gv = obj.apiVersion!;
  const base = gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`;
  let list = discovered.get(gv);
  if (!list) {
    const r = await client.json('GET', base);
    if (r.status !== 200) throw new StatusError(400, 'BadRequest', `the member cluster serves no ${gv}`);
    list = r.body;
    discovered.set(gv, list);
  }
  const resource = ((list.resources ?? []) as Array<{ name: string; kind: string; namespaced: boolean }>).find(
    r => r.kind === obj.kind && !r.name.includes('/'),
  );
  if (!resource) throw new StatusError(400, 'BadRequest', `the member cluster serves no kind ${obj.kind} in ${gv}`);
  const namespace = resource.namespaced ? obj.metadata.namespace || 'default' : '';
  if (resource.namespaced) obj.metadata.namespace = namespace;
  return { collection: `${base}${namespace ? `/namespaces/${encodeURIComponent(namespace)}` : ''}/${resource.name}`, namespace };
}

export async function applyManifests(client: MemberClient, req: IncomingMessage, opts: { notUpdate: boolean }): Promise<{ status: number; body: unknown }> {
  const objects = manifestObjects(await readManifest(req));
  if (objects.length === 0) throw errors.badRequest('must special at lease one resource');
  const discovered = new Map<string, any>();
  const plan: Planned[] = [];
  for (const obj of objects) {
    const name = obj.metadata.name ?? '';
    if (!name && !obj.metadata.generateName) return { status: 400, body: status(400, 'Invalid', 'Name or generateName must be special') };
    const { collection } = await collectionOf(client, discovered, obj);
    let create = true;
    if (name) {
      const path = `${collection}/${encodeURIComponent(name)}`;
      await client.authorize('GET', path);
      const current = await client.json('GET', path);
      if (current.status === 200) {
        if (opts.notUpdate) {
          const group = obj.apiVersion!.includes('/') ? obj.apiVersion!.split('/')[0] : '';
          return { status: 409, body: status(409, 'AlreadyExists', `${obj.kind} "${name}" already exists`, { name, group, kind: obj.kind }) };
        }
        if (obj.metadata.resourceVersion) return { status: 409, body: status(409, 'Conflict', 'Not need specify resource version') };
        obj.metadata.resourceVersion = current.body?.metadata?.resourceVersion;
        create = false;
      } else if (current.status !== 404) {
        return { status: current.status, body: current.body };
      }
    }
    await client.authorize(create ? 'POST' : 'PUT', create ? collection : `${collection}/${encodeURIComponent(name)}`);
    plan.push({ obj, kind: obj.kind!, name, collection, create });
  }
  const messages: string[] = [];
  for (const p of plan) {
    const r = p.create ? await client.json('POST', p.collection, p.obj) : await client.json('PUT', `${p.collection}/${encodeURIComponent(p.name)}`, p.obj);
    if (r.status >= 300) return { status: r.status, body: r.body };
    messages.push(!p.create ? `${p.kind} ${p.name} configured` : p.name ? `${p.kind} ${p.name} created` : `${p.kind} generated`);
  }
  return { status: 200, body: status(200, '', messages.join('\n')) };
}
