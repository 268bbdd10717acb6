// Command-line flags of tke-apiserver. Names follow kube-apiserver so operators and deploy
// manifests can carry their habits over; parsing follows pflag (`--flag value`, `--flag=value`,
// comma-separated lists, repeated list flags append).
//
// Adding a flag: one entry in FLAGS, one field in ServerOptions, one line in buildOptions.
import { isIP } from 'node:net';
import type { ImageRegistryOptions } from '../../pkg/server/group.ts';

export interface RequestHeaderOptions {
  /** CA bundle that must have signed the front proxy's client certificate; unset = front-proxy auth off. */
  clientCAFile?: string;
  /** Allowed front-proxy certificate common names; empty = any CN signed by the CA. */
  allowedNames: string[];
  usernameHeaders: string[];
  groupHeaders: string[];
  extraHeadersPrefix: string[];
}

export interface ServerOptions {
  /** Holds pki/, admin.token, admin.kubeconfig and (embedded mode) postgres/. As given, not resolved. */
  dataDir: string;
  bindAddress: string;
  /** 0 asks the OS for a free port. */
  securePort: number;
  /** PostgreSQL URL; undefined = start the embedded PostgreSQL in `<dataDir>/postgres`. */
  databaseUrl?: string;
  /** Keys sealing secret fields at rest; unset = `<dataDir>/encryption.key`, made at first start. */
  encryptionKeyFile?: string;
  /** Both set or both unset; unset = use the self-signed certificate in `<dataDir>/pki`. */
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  /** Extra names (DNS or IP) for the self-signed serving certificate: --tls-san and --external-hostname. */
  tlsSANs: string[];
  externalHostname?: string;
  /** CA bundle for client certificates (CN = user, O = groups); unset = client certificates not accepted. */
  clientCAFile?: string;
  requestHeader: RequestHeaderOptions;
  /** kubeconfig of the kube-apiserver that decides, by SubjectAccessReview, for kube users arriving through the front proxy; unset = TKE policies decide for everyone. */
  authorizationKubeconfig?: string;
  /** How long, and how many, audit events are kept (0 = no bound of that kind). */
  audit: { maxAgeDays: number; maxEvents: number };
  /** Seconds between probes of an imported cluster (--cluster-health-check-period). */
  clusterHealthCheckPeriodSeconds: number;
  /** Seconds an Event is kept after it was last seen (--event-ttl, a Go duration such as 1h). */
  eventTTLSeconds: number;
  /** kubeconfig of the kube-apiserver that receives the controllers' Events; unset = this server keeps them. */
  eventsKubeconfig?: string;
  /** The image registry's engine (--registry-*). */
  registry: ImageRegistryOptions;
  /** Most non-mutating / mutating requests served at once; more get 429 (0 = no limit). */
  maxRequestsInflight: number;
  maxMutatingRequestsInflight: number;
  /** klog-style verbosity: 0 normal, 2+ one line per request, 4+ debug, 6+ trace. */
  verbosity: number;
  /** Print a ready-to-paste kubectl command once the server is up. */
  printKubectl: boolean;
  /** Processes serving the port (node:cluster); 1 serves from this process alone. */
  workers: number;
  /** --help was given: print usage() and exit 0; other fields are defaults/partial. */
  help: boolean;
}

/** A command-line mistake; main prints `message` and exits with `exitCode` (2, like pflag). */
export class OptionsError extends Error {
  readonly exitCode = 2;
  constructor(message: string) {
    super(message);
    this.name = 'OptionsError';
  }
}

type FlagKind = 'string' | 'list' | 'int' | 'bool';

interface FlagDef {
  kind: FlagKind;
  help: string;
  /** Placeholder shown in --help. */
  arg?: string;
  default?: string;
  shorthand?: string;
}

const FLAGS = {
  'data-dir': {
    kind: 'string',
    arg: 'DIR',
    default: '.data',
    help: 'Directory for the PKI, the bootstrap admin token and kubeconfig, and the embedded PostgreSQL.',
  },
  'secure-port': {
    kind: 'int',
    arg: 'PORT',
    default: '9443',
    help: 'The port on which to serve HTTPS with authentication and authorization. 0 picks a free port.',
  },
  'bind-address': {
    kind: 'string',
    arg: 'IP',
    default: '127.0.0.1',
    help: 'The IP address on which to listen for the --secure-port port. Use 0.0.0.0 (or ::) for all interfaces.',
  },
  'database-url': {
    kind: 'string',
    arg: 'URL',
    help: 'PostgreSQL connection URL (postgres://user:pass@host:port/db). Defaults to $DATABASE_URL; if neither is set, an embedded PostgreSQL is started in <data-dir>/postgres.',
  },
  'encryption-key-file': {
    kind: 'string',
    arg: 'FILE',
    help: 'Keys that encrypt secret fields (passwords, private keys, connector configurations) in the database: one "<name> <base64 of 32 random bytes>" a line, the first encrypting, all decrypting. Every replica of one database needs the same file. If unset, <data-dir>/encryption.key is used, generated at first start.',
  },
  'tls-cert-file': {
    kind: 'string',
    arg: 'FILE',
    help: 'File containing the default x509 certificate for HTTPS (CA cert, if any, concatenated after server cert). If unset, a self-signed CA and serving certificate are generated in <data-dir>/pki.',
  },
  'tls-private-key-file': { kind: 'string', arg: 'FILE', help: 'File containing the default x509 private key matching --tls-cert-file.' },
  'tls-san': { kind: 'list', arg: 'NAMES', help: 'Additional DNS names or IP addresses for the generated serving certificate (comma-separated).' },
  'external-hostname': { kind: 'string', arg: 'HOST', help: 'The hostname clients use to reach this server; added to the generated serving certificate.' },
  'client-ca-file': {
    kind: 'string',
    arg: 'FILE',
    help: 'If set, any request presenting a client certificate signed by one of the authorities in this file is authenticated with the CommonName as user and the Organizations as groups.',
  },
  'requestheader-client-ca-file': {
    kind: 'string',
    arg: 'FILE',
    help: 'Root certificate bundle to verify client certificates on incoming requests before trusting usernames in the headers named by --requestheader-username-headers. WARNING: generally do not depend on authorization being already done for incoming requests.',
  },
  'requestheader-allowed-names': {
    kind: 'list',
    arg: 'NAMES',
    default: '',
    help: 'List of client certificate common names allowed to provide usernames in the headers named by --requestheader-username-headers. If empty, any client certificate validated by the authorities in --requestheader-client-ca-file is allowed.',
  },
  'requestheader-username-headers': {
    kind: 'list',
    arg: 'HEADERS',
    default: 'X-Remote-User',
    help: 'List of request headers to inspect for usernames. The first header with a non-empty value is used.',
  },
  'requestheader-group-headers': {
    kind: 'list',
    arg: 'HEADERS',
    default: 'X-Remote-Group',
    help: 'List of request headers to inspect for groups. Each header value is one group (as kube-apiserver sends them); repeat the header for several.',
  },
  'requestheader-extra-headers-prefix': {
    kind: 'list',
    arg: 'PREFIXES',
    default: 'X-Remote-Extra-',
    help: 'List of request header prefixes to inspect for user extra information.',
  },
  'authorization-kubeconfig': {
    kind: 'string',
    arg: 'FILE',
    help: "kubeconfig file pointing at the 'core' kubernetes server with enough rights to create subjectaccessreviews.authorization.k8s.io (system:auth-delegator). Requests of kube users that come through the front proxy are then authorized by that server (its RBAC); TKE users keep TKE policies. If unset, TKE policies decide every request.",
  },
  'audit-log-maxage': {
    kind: 'int',
    arg: 'DAYS',
    default: '30',
    help: 'The number of days to keep audit events (auditevents.auth.tkestack.io) in the database. 0 keeps them by count only.',
  },
  'audit-log-maxevents': {
    kind: 'int',
    arg: 'N',
    default: '1000000',
    help: 'The most audit events kept in the database; the oldest go first. 0 means no limit.',
  },
  'cluster-health-check-period': {
    kind: 'int',
    arg: 'SECONDS',
    default: '60',
    help: 'How often each imported cluster is probed (/version through its credential); each probe is moved by up to a fifth of this at random so that clusters are not probed all at once.',
  },
  'event-ttl': {
    kind: 'string',
    arg: 'DURATION',
    default: '1h',
    help: "Amount of time to retain events (core/v1 and events.k8s.io/v1), counted from when each was last seen, as kube-apiserver's --event-ttl: a duration such as 1h, 30m or 1h30m. At least 1s.",
  },
  'events-kubeconfig': {
    kind: 'string',
    arg: 'FILE',
    help: "kubeconfig of the kube-apiserver this server is aggregated into, with rights to create and update events in every namespace: the controllers' Events are written there, where kubectl describe through the cluster reads them. If unset, this server stores and serves them itself.",
  },
  'registry-url': {
    kind: 'string',
    arg: 'URL',
    help: 'URL of an external Docker registry (distribution) that serves /v2/ behind this server, configured with auth.token (realm <server>/registry/auth, issuer tke-apiserver, service tke-registry, rootcertbundle --registry-token-cert-file) and a notification endpoint <server>/registry/notification sending the header X-TKE-Registry-Notification-Secret. If unset, the embedded docker-registry (--registry-engine-binary) is started in <data-dir>/registry on first use.',
  },
  'registry-engine-binary': {
    kind: 'string',
    arg: 'FILE',
    default: '/usr/bin/docker-registry',
    help: 'The docker-registry binary of the embedded registry engine (Debian package docker-registry). Without it and without --registry-url, /v2/ answers 503.',
  },
  'registry-token-key-file': {
    kind: 'string',
    arg: 'FILE',
    help: 'PEM private key (EC P-256) that signs registry tokens; with --registry-token-cert-file. Every replica needs the same pair. If unset, one is generated in <data-dir>/registry.',
  },
  'registry-token-cert-file': { kind: 'string', arg: 'FILE', help: "The certificate of --registry-token-key-file: the registry's auth.token.rootcertbundle." },
  'registry-notification-secret-file': {
    kind: 'string',
    arg: 'FILE',
    help: "File holding the secret the registry's notifications carry in X-TKE-Registry-Notification-Secret. If unset, one is generated in <data-dir>/registry.",
  },
  'registry-domain-suffix': {
    kind: 'string',
    arg: 'DOMAIN',
    help: "As TKE's registry domain suffix: a client reaching this server as <tenant>.<DOMAIN> addresses that tenant's images; any other host addresses the default tenant's.",
  },
  'max-requests-inflight': {
    kind: 'int',
    arg: 'N',
    default: '400',
    help: 'The maximum number of non-mutating requests in flight at a given time. When the server exceeds this, it rejects requests (429 with Retry-After). Watches do not count. Zero for no limit.',
  },
  'max-mutating-requests-inflight': {
    kind: 'int',
    arg: 'N',
    default: '200',
    help: 'The maximum number of mutating requests in flight at a given time. When the server exceeds this, it rejects requests (429 with Retry-After). Zero for no limit.',
  },
  v: { kind: 'int', arg: 'LEVEL', default: '0', shorthand: 'v', help: 'Log verbosity: 0 normal, 2 one line per request, 4 debug, 6 trace.' },
  workers: {
    kind: 'int',
    arg: 'N',
    default: '1',
    help: 'Worker processes that serve the port, each with its own event loop and watch cache (up to the number of cores is useful). Worker 1 runs the controllers and the embedded registry engine.',
  },
  'print-kubectl': { kind: 'bool', default: 'false', help: 'Once serving, print a kubectl command that uses <data-dir>/admin.kubeconfig.' },
  help: { kind: 'bool', default: 'false', shorthand: 'h', help: 'Print this help and exit.' },
} satisfies Record<string, FlagDef>;

type FlagName = keyof typeof FLAGS;
const flagDefs: Record<string, FlagDef> = FLAGS;

function isFlagName(name: string): name is FlagName {
  return Object.prototype.hasOwnProperty.call(FLAGS, name);
}

const shorthands = new Map<string, FlagName>();
for (const [name, def] of Object.entries(flagDefs)) {
  if (def.shorthand && isFlagName(name)) shorthands.set(def.shorthand, name);
}

/** The --help text. */
export function usage(): string {
  const lines = [
    'tke-apiserver: a Kubernetes aggregated API server for the TKEStack API groups, stored in PostgreSQL.',
    '',
    'Usage:',
    '  tke-apiserver --data-dir DIR --secure-port PORT [flags]',
    '',
    'Flags:',
  ];
  const entries = Object.entries(flagDefs).map(([name, def]) => {
    const short = def.shorthand && def.shorthand !== name ? `-${def.shorthand}, ` : '    ';
    const long = name.length === 1 ? `-${name}, --${name}` : `${short}--${name}`;
    const arg = def.kind === 'bool' ? '' : ` ${def.arg ?? 'VALUE'}`;
    const dflt =
      def.default !== undefined && def.default !== '' && def.kind !== 'bool' ? ` (default ${def.kind === 'list' ? `[${def.default}]` : def.default})` : '';
    return { left: `${long}${arg}`, right: `${def.help}${dflt}` };
  });
  const width = Math.max(...entries.map(e => e.left.length)) + 2;
  for (const e of entries) lines.push(`  ${e.left.padEnd(width)}${e.right}`);
  lines.push(
    '',
    'Flags accept "--flag value" and "--flag=value"; list flags take comma-separated values and may be repeated.',
    'Environment: DATABASE_URL (used when --database-url is not given).',
    '',
  );
  return lines.join('\n');
}

type RawValues = Map<FlagName, string[]>;

/**
 * Parses argv (without node and the script path). Throws OptionsError on any mistake.
 * `env` supplies DATABASE_URL.
 */
export function parseOptions(argv: string[], env: Record<string, string | undefined> = {}): ServerOptions {
  const raw: RawValues = new Map();
  const set = (name: FlagName, value: string) => {
    const prev = raw.get(name);
    if (prev) prev.push(value);
    else raw.set(name, [value]);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--') {
      if (i + 1 < argv.length) throw new OptionsError(`unexpected argument "${argv[i + 1]}": tke-apiserver takes no positional arguments`);
      break;
    }
    if (!arg.startsWith('-') || arg === '-') {
      throw new OptionsError(`unexpected argument "${arg}": tke-apiserver takes no positional arguments`);
    }
    const long = arg.startsWith('--');
    const body = arg.slice(long ? 2 : 1);
    const eq = body.indexOf('=');
    const given = eq >= 0 ? body.slice(0, eq) : body;
    let inline: string | undefined = eq >= 0 ? body.slice(eq + 1) : undefined;

    let name: FlagName | undefined;
    if (long) {
      name = isFlagName(given) ? given : undefined;
    } else {
      name = shorthands.get(given);
      // pflag's "-v4": a shorthand with its value attached.
      if (!name && inline === undefined && given.length > 1) {
        const short = shorthands.get(given[0]);
        if (short && flagDefs[short].kind !== 'bool') {
          name = short;
          inline = given.slice(1);
        }
      }
    }
    if (!name) throw new OptionsError(`unknown flag: ${long ? '--' : '-'}${given}`);
    const def: FlagDef = flagDefs[name];

    if (def.kind === 'bool') {
      if (inline === undefined) inline = 'true';
      if (!/^(true|false|1|0|t|f|TRUE|FALSE|True|False)$/.test(inline)) {
        throw new OptionsError(`invalid argument "${inline}" for "--${name}" flag: expected true or false`);
      }
      set(name, inline);
      continue;
    }
    if (inline === undefined) {
      const next = argv[i + 1];
      // "--data-dir --secure-port 1" is a forgotten value, not a data dir named "--secure-port".
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new OptionsError(`flag needs an argument: ${long ? '--' : '-'}${given}`);
      }
      inline = next;
      i++;
    }
    set(name, inline);
  }

  if (raw.has('help') && bool(raw, 'help')) {
    // --help wins over mistakes in other flag values, as with pflag.
    try {
      return buildOptions(raw, env);
    } catch {
      return buildOptions(new Map([['help', ['true']]]), env);
    }
  }
  return buildOptions(raw, env);
}

function last(raw: RawValues, name: FlagName): string | undefined {
  const vs = raw.get(name);
  if (vs && vs.length) return vs[vs.length - 1];
  return flagDefs[name].default;
}

function str(raw: RawValues, name: FlagName): string | undefined {
  const v = last(raw, name);
  return v === undefined || v === '' ? undefined : v;
}

function list(raw: RawValues, name: FlagName): string[] {
  // Like pflag's StringSlice: given values replace the default, repeats append.
  const vs = raw.get(name) ?? [flagDefs[name].default ?? ''];
  return vs
    .flatMap(v => v.split(','))
    .map(s => s.trim())
    .filter(s => s !== '');
}

function int(raw: RawValues, name: FlagName, min: number, max: number): number {
  const v = last(raw, name) ?? '0';
  if (!/^\d+$/.test(v)) throw new OptionsError(`invalid argument "${v}" for "--${name}" flag: must be an integer`);
  const n = Number(v);
  if (n < min || n > max) throw new OptionsError(`invalid argument "${v}" for "--${name}" flag: must be between ${min} and ${max}`);
  return n;
}

/** A Go duration (time.ParseDuration) of whole seconds or more: 90s, 1h, 1h30m, 1.5h. */
function durationSeconds(raw: RawValues, name: FlagName, min: number, max: number): number {
  const v = last(raw, name) ?? '0s';
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  const parts = [...v.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (!/^(\d+(\.\d+)?(ms|h|m|s))+$/.test(v) || parts.length === 0) {
    throw new OptionsError(`invalid argument "${v}" for "--${name}" flag: time: invalid duration "${v}" (use a number with a unit: 30s, 10m, 1h)`);
  }
  const seconds = parts.reduce((sum, p) => sum + Number(p[1]) * units[p[2]], 0);
  if (seconds < min || seconds > max) throw new OptionsError(`invalid argument "${v}" for "--${name}" flag: must be between ${min}s and ${max / 3600}h`);
  return Math.floor(seconds);
}

function bool(raw: RawValues, name: FlagName): boolean {
  const v = last(raw, name) ?? 'false';
  return /^(true|1|t)$/i.test(v);
}

function buildOptions(raw: RawValues, env: Record<string, string | undefined>): ServerOptions {
  const help = bool(raw, 'help');
  const externalHostname = str(raw, 'external-hostname');
  const opts: ServerOptions = {
    dataDir: str(raw, 'data-dir') ?? '.data',
    bindAddress: str(raw, 'bind-address') ?? '127.0.0.1',
    securePort: int(raw, 'secure-port', 0, 65535),
    databaseUrl: str(raw, 'database-url') ?? (env.DATABASE_URL || undefined),
    encryptionKeyFile: str(raw, 'encryption-key-file'),
    tlsCertFile: str(raw, 'tls-cert-file'),
    tlsPrivateKeyFile: str(raw, 'tls-private-key-file'),
    tlsSANs: [...list(raw, 'tls-san'), ...(externalHostname ? [externalHostname] : [])],
    externalHostname,
    clientCAFile: str(raw, 'client-ca-file'),
    requestHeader: {
      clientCAFile: str(raw, 'requestheader-client-ca-file'),
      allowedNames: list(raw, 'requestheader-allowed-names'),
      usernameHeaders: list(raw, 'requestheader-username-headers'),
      groupHeaders: list(raw, 'requestheader-group-headers'),
      extraHeadersPrefix: list(raw, 'requestheader-extra-headers-prefix'),
    },
    authorizationKubeconfig: str(raw, 'authorization-kubeconfig'),
    audit: { maxAgeDays: int(raw, 'audit-log-maxage', 0, 36500), maxEvents: int(raw, 'audit-log-maxevents', 0, 1_000_000_000) },
    clusterHealthCheckPeriodSeconds: int(raw, 'cluster-health-check-period', 1, 86_400),
    eventTTLSeconds: durationSeconds(raw, 'event-ttl', 1, 366 * 86_400),
    eventsKubeconfig: str(raw, 'events-kubeconfig'),
    registry: {
      url: str(raw, 'registry-url'),
      engineBinary: str(raw, 'registry-engine-binary') ?? '/usr/bin/docker-registry',
      tokenKeyFile: str(raw, 'registry-token-key-file'),
      tokenCertFile: str(raw, 'registry-token-cert-file'),
      notificationSecretFile: str(raw, 'registry-notification-secret-file'),
      domainSuffix: str(raw, 'registry-domain-suffix'),
    },
    maxRequestsInflight: int(raw, 'max-requests-inflight', 0, 1_000_000),
    maxMutatingRequestsInflight: int(raw, 'max-mutating-requests-inflight', 0, 1_000_000),
    verbosity: int(raw, 'v', 0, 10),
    printKubectl: bool(raw, 'print-kubectl'),
    workers: int(raw, 'workers', 1, 64),
    help,
  };
  if (!help) validate(opts);
  return opts;
}

function validate(o: ServerOptions): void {
  if (!isIP(o.bindAddress)) throw new OptionsError(`invalid argument "${o.bindAddress}" for "--bind-address" flag: must be an IP address`);
  if (!!o.tlsCertFile !== !!o.tlsPrivateKeyFile) {
    throw new OptionsError('--tls-cert-file and --tls-private-key-file must be given together');
  }
  if (o.databaseUrl !== undefined) {
    let protocol = '';
    try {
      protocol = new URL(o.databaseUrl).protocol;
    } catch {
      /* reported below */
    }
    if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
      // The URL itself may hold a password: do not echo it.
      throw new OptionsError('invalid --database-url / DATABASE_URL: expected postgres://[user[:password]@]host[:port]/database');
    }
  }
  for (const h of [...o.requestHeader.usernameHeaders, ...o.requestHeader.groupHeaders, ...o.requestHeader.extraHeadersPrefix]) {
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h)) throw new OptionsError(`invalid header name "${h}" in --requestheader-* flags`);
  }
  if (!!o.registry.tokenKeyFile !== !!o.registry.tokenCertFile) {
    throw new OptionsError('--registry-token-key-file and --registry-token-cert-file must be given together');
  }
  if (o.registry.url !== undefined && !/^https?:$/.test(URL.canParse(o.registry.url) ? new URL(o.registry.url).protocol : '')) {
    throw new OptionsError(`invalid argument "${o.registry.url}" for "--registry-url" flag: expected an http or https URL`);
  }
  if (o.requestHeader.clientCAFile && o.requestHeader.usernameHeaders.length === 0) {
    throw new OptionsError('--requestheader-username-headers must not be empty when --requestheader-client-ca-file is set');
  }
}

/**
 * For main: parses, prints --help (exit 0) or the error with a hint (exit 2), else returns.
 */
export function parseOptionsOrExit(argv: string[] = process.argv.slice(2), env: Record<string, string | undefined> = process.env): ServerOptions {
  let opts: ServerOptions;
  try {
    opts = parseOptions(argv, env);
  } catch (err) {
    if (err instanceof OptionsError) {
      process.stderr.write(`Error: ${err.message}\nRun 'tke-apiserver --help' for usage.\n`);
      process.exit(err.exitCode);
    }
    throw err;
  }
  if (opts.help) {
    process.stdout.write(usage());
    process.exit(0);
  }
  return opts;
}
