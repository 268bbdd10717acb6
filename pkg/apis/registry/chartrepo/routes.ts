// The chart repository at TKE's paths, what chartmuseum answers inside tke-registry-api:
//   GET    /chart/{tenant}/{group}/index.yaml                  the Helm repository index
//   GET    /chart/{tenant}/{group}/charts/{name}-{version}.tgz a chart archive (counts a pull)
//   POST   /chart/api/{tenant}/{group}/charts                  upload (multipart field `chart`, or the raw .tgz; ?force replaces)
//   DELETE /chart/api/{tenant}/{group}/charts/{name}/{version} delete a version
// Errors are chartmuseum's JSON, {"error": "..."}, with the HTTP status that says what went wrong.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { StatusError } from '../../../rest/errors.ts';
import type { UserInfo } from '../../../rest/resource.ts';
import type { Route, RouteRequest } from '../../../server/apiserver.ts';
import type { Authorizer } from '../../../server/authz.ts';
import type { StoredChartGroup } from '../stored.ts';
import { ChartRepoError, mayAct, mayKnow, unauthenticated, type ChartAction, type ChartRepoAuthenticator } from './access.ts';
import { ChartArchiveError, isChartName, isChartVersion, maxArchiveBytes, readChartArchive } from './archive.ts';
import type { ChartArchives } from './archives.ts';
import { indexDocument } from './index-yaml.ts';
import { countPull, findChart, findChartGroup, syncChart, syncChartCount, type ChartStores } from './objects.ts';

export interface ChartRepoDeps {
  stores: ChartStores;
  archives: ChartArchives;
  authenticator: ChartRepoAuthenticator;
  authorizer(): Authorizer;
  logger: Logger;
}

/** Tenant and chart group names as TKE makes them; anything else in the URL is refused before any lookup. */
const namePattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;
/** Room for the multipart framing around an archive of the largest size. */
const maxUploadBytes = maxArchiveBytes + 64 * 1024;

function sendJSON(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new ChartRepoError(413, `chart upload is larger than ${maxArchiveBytes} bytes`);
  if (Number(req.headers['content-length'] ?? 0) > limit) {
    req.resume();
    throw tooLarge();
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) {
      req.resume();
      throw tooLarge();
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The archive of an upload: the `chart` field of a multipart form (helm push, chartmuseum's API), or the body itself. */
async function uploadedArchive(req: IncomingMessage): Promise<Buffer> {
  const body = await readBody(req, maxUploadBytes);
  const type = req.headers['content-type'] ?? '';
  if (!/^multipart\/form-data/i.test(type)) return body;
  let form: FormData;
  try {
    // undici's multipart parser, as Node ships it.
    form = await new Response(new Uint8Array(body), { headers: { 'content-type': type } }).formData();
  } catch {
    throw new ChartRepoError(400, 'malformed multipart form');
  }
  const field = form.get('chart');
  if (!field || typeof field === 'string') throw new ChartRepoError(400, 'no chart file in the form: send it in the field "chart"');
  return Buffer.from(await field.arrayBuffer());
}

export function chartRepoRoutes(deps: ChartRepoDeps): Route[] {
  const { stores, archives } = deps;

  /** The group the URL names, the caller, and whether it may do `action`; 401/403/404 otherwise. */
  async function authorized(
    r: RouteRequest,
    tenant: string,
    groupName: string,
    action: ChartAction,
    chartName?: string,
  ): Promise<{ group: StoredChartGroup; user?: UserInfo }> {
    if (!namePattern.test(tenant) || !namePattern.test(groupName)) throw new ChartRepoError(404, 'chart group not found');
    const user = await deps.authenticator.authenticate(r, tenant);
    const group = await findChartGroup(stores, tenant, groupName);
    if (!group || !mayKnow(user, group)) throw new ChartRepoError(404, `chart group "${groupName}" not found`);
    if (group.status?.locked === true) throw new ChartRepoError(403, `chart group "${groupName}" is locked`);
    const chart = chartName ? await findChart(stores, group, chartName) : undefined;
    if (!(await mayAct(deps.authorizer(), user, group, action, chart?.metadata.name ?? ''))) {
      if (!user) throw unauthenticated();
      throw new ChartRepoError(403, `user "${user.username}" may not ${action === 'read' ? 'read' : `${action} charts in`} chart group "${groupName}"`);
    }
    return { group, user };
  }

  async function keepObjectsInStep(group: StoredChartGroup, name: string): Promise<void> {
    await syncChart(stores, group, name, await archives.list(group.metadata.uid!, name));
    await syncChartCount(stores, group);
  }

  async function index(r: RouteRequest, tenant: string, groupName: string): Promise<void> {
    const { group } = await authorized(r, tenant, groupName, 'read');
    const text = indexDocument(await archives.list(group.metadata.uid!));
    r.res.writeHead(200, { 'Content-Type': 'application/x-yaml', 'Content-Length': Buffer.byteLength(text) });
    r.res.end(text);
  }

  async function download(r: RouteRequest, tenant: string, groupName: string, file: string): Promise<void> {
    const { group } = await authorized(r, tenant, groupName, 'read');
    const stored = /^[A-Za-z0-9._+-]+\.tgz$/.test(file) ? await archives.byFileName(group.metadata.uid!, file) : undefined;
    if (!stored) throw new ChartRepoError(404, `chart archive "${file.slice(0, 200)}" not found`);
    if (r.req.method === 'GET') {
      await countPull(stores, group, stored.name).catch(err =>
        deps.logger.warn({ err, chartGroup: groupName, chart: stored.name }, 'could not count a chart pull'),
      );
    }
    r.res.writeHead(200, {
      'Content-Type': 'application/gzip',
      'Content-Length': stored.content.length,
      'Content-Disposition': `attachment; filename="${stored.fileName}"`,
    });
    r.res.end(r.req.method === 'HEAD' ? undefined : stored.content);
  }

  async function upload(r: RouteRequest, tenant: string, groupName: string): Promise<void> {
    const { group } = await authorized(r, tenant, groupName, 'create');
    if (group.metadata.deletionTimestamp) throw new ChartRepoError(409, `chart group "${groupName}" is being deleted`);
    const content = await uploadedArchive(r.req);
    const chart = readChartArchive(content);
    const { name, version } = chart.metadata;
    const force = r.url.searchParams.has('force') && r.url.searchParams.get('force') !== 'false';
    if (!(await archives.put(group.metadata.uid!, chart, content, force))) {
      throw new ChartRepoError(409, `${name}-${version}.tgz already exists`);
    }
    try {
      await keepObjectsInStep(group, name);
    } catch (err) {
      // The Chart could not be written (the group went away meanwhile): no archive without its object.
      if (!force) await archives.delete(group.metadata.uid!, name, version);
      throw err;
    }
    sendJSON(r.res, 201, { saved: true });
  }

  async function remove(r: RouteRequest, tenant: string, groupName: string, name: string, version: string): Promise<void> {
    if (!isChartName(name) || !isChartVersion(version)) throw new ChartRepoError(404, 'chart version not found');
    const { group } = await authorized(r, tenant, groupName, 'delete', name);
    if (!(await archives.delete(group.metadata.uid!, name, version))) throw new ChartRepoError(404, `chart "${name}" has no version "${version}"`);
    await keepObjectsInStep(group, name);
    sendJSON(r.res, 200, { deleted: true });
  }

  async function dispatch(r: RouteRequest): Promise<void> {
    let parts: string[];
    try {
      parts = r.url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    } catch {
      throw new ChartRepoError(400, 'malformed URL');
    }
    const method = r.req.method ?? 'GET';
    const [, first, second, third, fourth, fifth] = parts;
    if (first === 'api' && fourth === 'charts') {
      if (parts.length === 5 && method === 'POST') return upload(r, second, third);
      if (parts.length === 7 && method === 'DELETE') return remove(r, second, third, fifth, parts[6]);
    }
    if (method === 'GET' || method === 'HEAD') {
      if (parts.length === 4 && third === 'index.yaml') return index(r, first, second);
      if (parts.length === 5 && third === 'charts') return download(r, first, second, fourth);
    }
    throw new ChartRepoError(404, 'not found');
  }

  return [
    {
      prefix: '/chart',
      async handle(r) {
        try {
          await dispatch(r);
        } catch (err) {
          if (r.res.headersSent) {
            r.res.destroy();
            return;
          }
          // A refused upload's body is drained, so the connection stays usable for the client's next request.
          r.req.resume();
          if (err instanceof ChartRepoError) return sendJSON(r.res, err.status, { error: err.message }, err.headers);
          if (err instanceof ChartArchiveError) return sendJSON(r.res, err.status, { error: err.message });
          if (err instanceof StatusError && err.code < 500) return sendJSON(r.res, err.code, { error: err.message });
          deps.logger.error({ err, path: r.url.pathname, method: r.req.method }, 'chart repository request failed');
          sendJSON(r.res, 500, { error: 'an unexpected error occurred; see the server log' });
        }
      },
    },
  ];
}
