// POST chartgroups/<name>/repoupdating: TKE's repo update for an Imported chart group. The
// repository at spec.importedInfo.addr is read as helm reads one (index.yaml, then each
// version's archive from its URL), and every version is stored here and listed on its Chart;
// versions already stored with the same digest are not fetched again. Nothing is removed: a
// version gone from the remote stays until deleted here.
//
// TLS: the remote's certificate is checked against the system's CAs, plus the PEM bundle in the
// group's annotation registry.tkestack.io/import-ca-data (base64, like a kubeconfig's
// certificate-authority-data); registry.tkestack.io/import-insecure-skip-tls-verify: "true"
// turns the check off, as helm's --insecure-skip-tls-verify (TKE's importer skips it always).
// The credentials go to the remote's own origin only, never to another host an index points at.
import http from 'node:http';
import https from 'node:https';
import { rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import YAML from 'yaml';
import { RepoType } from '../../../../api/registry/v1/types.ts';
import { errors } from '../../../rest/errors.ts';
import type { CustomSubresource } from '../../../rest/resource.ts';
import type { Store } from '../../../storage/interface.ts';
import { decodePassword } from '../../auth/password.ts';
import { asChartGroup, type StoredChartGroup } from '../stored.ts';
import { type ChartArchive, ChartArchiveError, isChartName, isChartVersion, maxArchiveBytes, readChartArchive, sha256 } from './archive.ts';
import type { ChartArchives } from './archives.ts';
import { serverContext, syncChart, syncChartCount, type ChartStores } from './objects.ts';

export const importCAAnnotation = 'registry.tkestack.io/import-ca-data';
export const importInsecureAnnotation = 'registry.tkestack.io/import-insecure-skip-tls-verify';

const maxIndexBytes = 8 * 1024 * 1024;
const maxVersionsPerImport = 500;
const requestTimeoutMs = 30_000;

export interface ImportDeps {
  stores: () => ChartStores;
  archives: () => ChartArchives;
  storage: Store;
  logger: Logger;
}

interface Remote {
  base: URL;
  authorization?: string;
  tls: https.AgentOptions;
}

const refuse = (why: string) => errors.badRequest(`cannot import the chart repository: ${why}`);

function fetchBytes(remote: Remote, url: URL, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const sameOrigin = url.origin === remote.base.origin;
    const headers: Record<string, string> = { 'User-Agent': 'tke-apiserver chart importer' };
    if (sameOrigin && remote.authorization) headers.Authorization = remote.authorization;
    const options = { method: 'GET', headers, timeout: requestTimeoutMs, ...(url.protocol === 'https:' ? remote.tls : {}) };
    const req = (url.protocol === 'https:' ? https : http).request(url, options, res => {
      if (res.statusCode !== 200) {
        res.resume();
        reject(refuse(`GET ${url.origin}${url.pathname} answered HTTP ${res.statusCode}`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limit) {
          req.destroy();
          reject(refuse(`${url.pathname} is larger than ${limit} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', err => reject(refuse(`reading ${url.origin}${url.pathname}: ${err.message}`)));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', err => reject(refuse(`GET ${url.origin}${url.pathname}: ${err.message}`)));
    req.end();
  });
}

function remoteOf(group: StoredChartGroup): Remote {
  const info = group.spec?.importedInfo ?? {};
  let base: URL;
  try {
    base = new URL(info.addr ?? '');
  } catch {
    throw refuse('spec.importedInfo.addr is not a URL');
  }
  if (base.protocol !== 'https:' && base.protocol !== 'http:') throw refuse('spec.importedInfo.addr must be an http or https URL');
  if (base.username || base.password) throw refuse('spec.importedInfo.addr must not carry credentials: set username and password');
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const annotations = group.metadata.annotations ?? {};
  const tls: https.AgentOptions = {};
  if (annotations[importInsecureAnnotation] === 'true') tls.rejectUnauthorized = false;
  else if (annotations[importCAAnnotation]) tls.ca = [...rootCertificates, Buffer.from(annotations[importCAAnnotation], 'base64').toString('utf8')];
  const password = info.password ? decodePassword(info.password) : '';
  const authorization = info.username ? `Basic ${Buffer.from(`${info.username}:${password}`).toString('base64')}` : undefined;
  return { base, authorization, tls };
}

interface IndexVersion {
  name: string;
  version: string;
  url: URL;
  digest?: string;
  created?: number;
}

function indexVersions(remote: Remote, text: string): IndexVersion[] {
  let doc: { entries?: Record<string, Array<{ name?: unknown; version?: unknown; urls?: unknown; digest?: unknown; created?: unknown }>> };
  try {
    doc = YAML.parse(text, { maxAliasCount: 100 });
  } catch {
    throw refuse('index.yaml is not YAML');
  }
  if (!doc || typeof doc.entries !== 'object' || doc.entries === null) throw refuse('index.yaml has no entries');
  const out: IndexVersion[] = [];
  for (const [name, versions] of Object.entries(doc.entries)) {
    if (!isChartName(name) || !Array.isArray(versions)) continue;
    for (const v of versions) {
      const version = String(v?.version ?? '');
      const first = Array.isArray(v?.urls) ? String(v.urls[0] ?? '') : '';
      if (!isChartVersion(version) || !first) continue;
      let url: URL;
      try {
        url = new URL(first, remote.base);
      } catch {
        continue;
      }
      if (url.protocol !== 'https:' && url.protocol !== 'http:') continue;
      const created = typeof v.created === 'string' ? Date.parse(v.created) : NaN;
      out.push({ name, version, url, digest: typeof v.digest === 'string' ? v.digest : undefined, created: Number.isFinite(created) ? created : undefined });
      if (out.length > maxVersionsPerImport) throw refuse(`the repository has more than ${maxVersionsPerImport} chart versions`);
    }
  }
  return out;
}

export function repoUpdatingSubresource(deps: ImportDeps): CustomSubresource {
  return {
    verbs: ['create'],
    kind: 'ChartGroup',
    async handle({ parent, parentName }) {
      if (!parent) throw errors.notFound({ group: 'registry.tkestack.io', resource: 'chartgroups' }, parentName);
      const served = asChartGroup(parent);
      if (served.spec?.type !== RepoType.Imported) throw errors.badRequest(`chart group "${served.spec?.name}" is not of type ${RepoType.Imported}`);
      // The stored object: the one served to the caller has no import password.
      const stored = await deps.storage.get({ group: 'registry.tkestack.io', resource: 'chartgroups', namespace: '', name: parentName });
      if (!stored) throw errors.notFound({ group: 'registry.tkestack.io', resource: 'chartgroups' }, parentName);
      const group = asChartGroup(stored);
      const remote = remoteOf(group);
      const stores = deps.stores();
      const archives = deps.archives();
      const wanted = indexVersions(remote, (await fetchBytes(remote, new URL('index.yaml', remote.base), maxIndexBytes)).toString('utf8'));
      const have = new Map((await archives.list(group.metadata.uid!)).map(v => [`${v.name}\0${v.version}`, v.digest]));
      const touched = new Set<string>();
      for (const v of wanted) {
        const known = have.get(`${v.name}\0${v.version}`);
        if (known && (!v.digest || known === v.digest)) continue;
        const content = await fetchBytes(remote, v.url, maxArchiveBytes);
        if (v.digest && sha256(content) !== v.digest) throw refuse(`${v.url.pathname}: digest does not match index.yaml`);
        let chart: ChartArchive;
        try {
          chart = readChartArchive(content);
        } catch (err) {
          if (err instanceof ChartArchiveError) throw refuse(`${v.url.pathname}: ${err.message}`);
          throw err;
        }
        if (chart.metadata.name !== v.name || chart.metadata.version !== v.version) {
          throw refuse(`${v.url.pathname} holds ${chart.metadata.name} ${chart.metadata.version}, not ${v.name} ${v.version} as index.yaml says`);
        }
        await archives.put(group.metadata.uid!, chart, content, true, v.created ?? Date.now());
        touched.add(v.name);
      }
      for (const name of touched) await syncChart(stores, group, name, await archives.list(group.metadata.uid!, name));
      await syncChartCount(stores, group);
      deps.logger.info({ chartGroup: parentName, imported: touched.size }, 'chart group imported from its repository');
      // As served to any client: decorated, so without the import password.
      return stores.chartGroups.present(await stores.chartGroups.get(serverContext(''), parentName), {});
    },
  };
}
