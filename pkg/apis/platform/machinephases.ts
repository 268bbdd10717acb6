// The phases that make a machine a node, in the order of TKE's baremetal machine provider
// (pkg/platform/provider/baremetal/machine/provider.go, CreateHandlers). Each phase is an
// idempotent shell script run over SSH (as root, or through passwordless sudo), recorded as a
// condition of its own name; a run resumes at the first phase whose condition is not True.
//
// This server runs and tests the phases that prepare and check a host (EnsureSysctl,
// EnsureDisableSwap, EnsureManifestDir, EnsurePreflight). The rest install and join: they need
// TKE's binaries, a registry and a bootstrap token of a real cluster, which this server does not
// hold, so they run only when node provisioning is enabled AND given those inputs. No test here
// has run them (see README, "Machines").
import type { MachineStatus, MachineSystemInfo } from '../../../api/platform/v1/machine.ts';
import type { ExecResult, SSHSession } from './ssh.ts';
import type { StoredCluster, StoredMachine } from './stored.ts';

/** A phase that did not complete: `reason` is CamelCase, `message` says why in words (never a credential). */
export class PhaseFailure extends Error {
  /** What the phase learned before it failed (a failed preflight still reports its checks). */
  outcome?: PhaseOutcome;
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

/** One preflight check's outcome, recorded as its own condition `Preflight/<name>`. */
export interface CheckResult {
  name: string;
  ok: boolean;
  message: string;
}

export interface PhaseOutcome {
  message?: string;
  checks?: CheckResult[];
  machineInfo?: MachineSystemInfo;
  addresses?: MachineStatus['addresses'];
}

/** What a node-provisioning run needs that only a real TKE installation has. */
export interface ProvisioningOptions {
  /** Run the install and join phases at all. Off by default: nothing here can run them. */
  enabled: boolean;
  /** Where the node's packages come from: an apt/yum repository of kubelet/kubeadm for the cluster's version. */
  packageRepository?: string;
  /** A private registry's domain and address, written to /etc/hosts as TKE does for its registry. */
  registryDomain?: string;
  registryIP?: string;
  /** The cluster's API server endpoint (host:port) a node joins. */
  apiServerEndpoint?: string;
  /** A kubeadm bootstrap token of the cluster, and the hash of its CA to pin. */
  joinToken?: string;
  caCertHash?: string;
}

export interface PhaseContext {
  /** Runs a script with root rights (directly as root, else through `sudo -n`). */
  privileged(script: string, timeoutMs?: number): Promise<ExecResult>;
  session: SSHSession;
  machine: StoredMachine;
  cluster: StoredCluster;
  /** The other machines of the same cluster (for the hostname check). */
  peers: StoredMachine[];
  provisioning: ProvisioningOptions;
  /** The server's clock when the machine's clock was read, for the skew check. */
  now(): number;
}

export interface Phase {
  name: string;
  /** Installs or joins: runs only when provisioning is enabled. */
  provisioning: boolean;
  run(pc: PhaseContext): Promise<PhaseOutcome>;
}

/** The kubelet and kube-proxy ports a worker needs free (TKE's node checks). */
export const nodePorts = [10250, 10249, 10256];
export const minKernel = [3, 10] as const;
export const minCPUs = 1;
export const minMemoryMiB = 1024;
export const maxClockSkewSeconds = 60;
const sysctlFile = '/etc/sysctl.d/99-tke.conf';
const moduleFile = '/etc/modules-load.d/tke.conf';
const manifestDir = '/etc/kubernetes/manifests';
export const filesThisServerWrites = [sysctlFile];

/** Runs `script`, failing the phase with its output when it exits non-zero. */
async function mustRun(pc: PhaseContext, reason: string, script: string, timeoutMs?: number): Promise<string> {
  const r = await pc.privileged(script, timeoutMs);
  if (r.code !== 0) throw new PhaseFailure(reason, `${reason}: exit ${r.code}: ${(r.stderr || r.stdout).trim().slice(-500)}`);
  return r.stdout;
}

function requireOption<K extends keyof ProvisioningOptions>(pc: PhaseContext, key: K, phase: string): NonNullable<ProvisioningOptions[K]> {
  const v = pc.provisioning[key];
  if (!v) throw new PhaseFailure('MissingProvisioningOption', `${phase} needs the provisioning option ${key}, which this server was not given`);
  return v as NonNullable<ProvisioningOptions[K]>;
}

const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** `key=value` lines into a map (the fact-gathering scripts print them). */
function parseFacts(stdout: string): Map<string, string[]> {
  const facts = new Map<string, string[]>();
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=');
    if (i <= 0) continue;
    const k = line.slice(0, i);
    facts.set(k, [...(facts.get(k) ?? []), line.slice(i + 1).trim()]);
  }
  return facts;
}

const goArch: Record<string, string> = { x86_64: 'amd64', aarch64: 'arm64', armv7l: 'arm', i686: '386', ppc64le: 'ppc64le', s390x: 's390x' };

const factsScript = `
echo "uid=$(id -u)"
if [ "$(id -u)" = 0 ] || sudo -n true >/dev/null 2>&1; then echo privileged=yes; else echo privileged=no; fi
echo "longbit=$(getconf LONG_BIT 2>/dev/null)"
echo "kernel=$(uname -r)"
echo "os=$(uname -s)"
echo "arch=$(uname -m)"
echo "ncpu=$(getconf _NPROCESSORS_ONLN 2>/dev/null || nproc)"
echo "memkb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
echo "hostname=$(hostname)"
echo "swaps=$(tail -n +2 /proc/swaps | wc -l)"
echo "ipforward=$(cat /proc/sys/net/ipv4/ip_forward)"
echo "machineid=$(cat /etc/machine-id 2>/dev/null)"
echo "bootid=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null)"
echo "uuid=$(cat /sys/class/dmi/id/product_uuid 2>/dev/null)"
echo "osimage=$( . /etc/os-release 2>/dev/null && echo "$PRETTY_NAME")"
if command -v ss >/dev/null 2>&1; then ss -Hltn | awk '{print "listen=" $4}'; else echo noss=yes; fi
for t in sysctl swapoff sed getconf ss grep id uname modinfo ip awk iptables; do command -v "$t" >/dev/null 2>&1 || echo "missingtool=$t"; done
echo "clock=$(date +%s)"
`;

/** TKE's node preflight checks, from one round trip of facts; each check is reported on its own. */
async function preflight(pc: PhaseContext): Promise<PhaseOutcome> {
  const sent = pc.now();
  const r = await pc.session.exec(`sh -c ${shellQuote(factsScript)}`, 30_000);
  const received = pc.now();
  if (r.code !== 0) throw new PhaseFailure('PreflightFailed', `cannot read the machine's facts: exit ${r.code}: ${r.stderr.trim().slice(-300)}`);
  const facts = parseFacts(r.stdout);
  const fact = (k: string) => facts.get(k)?.[0] ?? '';
  const int = (k: string) => Number.parseInt(fact(k), 10);
  const checks: CheckResult[] = [];
  const check = (name: string, ok: boolean, good: string, bad: string) => checks.push({ name, ok, message: ok ? good : bad });

  const user = pc.machine.spec?.username || 'root';
  check(
    'IsPrivilegedUser',
    fact('privileged') === 'yes',
    fact('uid') === '0' ? `${user} is root` : `${user} may run commands as root through passwordless sudo`,
    `${user} is not root and cannot run sudo without a password`,
  );
  check('CPUArch', int('longbit') === 64, `64-bit (${fact('arch')})`, `only 64-bit machines are supported, this one is ${fact('longbit') || 'unknown'}-bit`);
  const [major = 0, minor = 0] = fact('kernel')
    .split('.')
    .map(n => Number.parseInt(n, 10));
  const kernelOK = major > minKernel[0] || (major === minKernel[0] && minor >= minKernel[1]);
  check('KernelVersion', kernelOK, `kernel ${fact('kernel')}`, `kernel version ${fact('kernel') || 'unknown'} is lower than ${minKernel.join('.')}`);
  check(
    'NumCPU',
    int('ncpu') >= minCPUs,
    `${int('ncpu')} CPUs`,
    `the number of available CPUs ${fact('ncpu') || 'unknown'} is less than the required ${minCPUs}`,
  );
  const memMiB = Math.floor(int('memkb') / 1024);
  check(
    'Memory',
    memMiB >= minMemoryMiB,
    `${memMiB} MiB of memory`,
    `${Number.isNaN(memMiB) ? 'unknown' : memMiB} MiB of memory is less than the required ${minMemoryMiB} MiB`,
  );
  if (fact('noss')) {
    check('PortsFree', false, '', '`ss` is not installed: the ports a node needs cannot be checked');
  } else {
    const listening = new Set((facts.get('listen') ?? []).map(a => Number(a.slice(a.lastIndexOf(':') + 1))));
    const busy = nodePorts.filter(p => listening.has(p));
    check(
      'PortsFree',
      busy.length === 0,
      `ports ${nodePorts.join(', ')} are free`,
      `port${busy.length > 1 ? 's' : ''} ${busy.join(', ')} ${busy.length > 1 ? 'are' : 'is'} in use`,
    );
  }
  const hostname = fact('hostname');
  const twin = pc.peers.find(m => m.status?.addresses?.some(a => a.type === 'Hostname' && a.address === hostname));
  check(
    'HostnameUnique',
    !!hostname && !twin,
    `hostname ${hostname} is unique in the cluster`,
    hostname ? `hostname ${hostname} is already the hostname of machine ${twin?.metadata.name} of this cluster` : 'the machine reports no hostname',
  );
  // The machine's clock was read between sending and receiving: compare with the midpoint.
  const skew = Math.abs(int('clock') - (sent + received) / 2000);
  check(
    'TimeSync',
    skew <= maxClockSkewSeconds,
    `clock within ${Math.ceil(skew)}s of the server's`,
    Number.isNaN(skew)
      ? 'the machine did not report its clock'
      : `the machine's clock is ${Math.round(skew)}s away from the server's (at most ${maxClockSkewSeconds}s)`,
  );
  check('Swap', int('swaps') === 0, 'swap is off', `swap is on (${fact('swaps')} device${fact('swaps') === '1' ? '' : 's'}); the kubelet needs it off`);
  check('IPForward', fact('ipforward') === '1', 'net.ipv4.ip_forward is 1', `net.ipv4.ip_forward is ${fact('ipforward') || 'unknown'}, not 1`);
  const missing = facts.get('missingtool') ?? [];
  // As TKE's InPathCheck: a missing tool is a warning, not a failure.
  checks.push({ name: 'RequiredTools', ok: true, message: missing.length ? `warning: not in PATH: ${missing.join(', ')}` : 'all tools found' });

  const machineInfo: MachineSystemInfo = {
    machineID: fact('machineid') || undefined,
    systemUUID: fact('uuid') || undefined,
    bootID: fact('bootid') || undefined,
    kernelVersion: fact('kernel'),
    osImage: fact('osimage') || undefined,
    operatingSystem: fact('os').toLowerCase(),
    architecture: goArch[fact('arch')] ?? fact('arch'),
  };
  for (const k of Object.keys(machineInfo) as Array<keyof MachineSystemInfo>) if (machineInfo[k] === undefined) delete machineInfo[k];
  const addresses: NonNullable<MachineStatus['addresses']> = [{ type: 'InternalIP', address: pc.machine.spec?.ip ?? '' }];
  if (hostname) addresses.push({ type: 'Hostname', address: hostname });
  const failed = checks.filter(c => !c.ok);
  if (failed.length) {
    const failure = new PhaseFailure('PreflightFailed', `preflight: ${failed.map(c => `[${c.name}] ${c.message}`).join('; ')}`);
    failure.outcome = { checks, machineInfo, addresses };
    throw failure;
  }
  return { checks, machineInfo, addresses, message: `${checks.length} checks passed` };
}

/** A provisioning phase: a script built from the options, run as root. */
function provisioningPhase(name: string, script: (pc: PhaseContext) => string, timeoutMs = 300_000): Phase {
  return {
    name,
    provisioning: true,
    run: async pc => {
      await mustRun(pc, name, script(pc), timeoutMs);
      return {};
    },
  };
}

const gpuRequested = (pc: PhaseContext) => pc.machine.spec?.labels?.['nvidia-device-enable'] === 'enable';
const kubernetesVersion = (pc: PhaseContext) => pc.cluster.spec?.version ?? '';

export const machinePhases: Phase[] = [
  // TKE copies its bundled binaries; here they come from the package repository the operator names.
  provisioningPhase('EnsureCopyFiles', pc => {
    const repo = requireOption(pc, 'packageRepository', 'EnsureCopyFiles');
    return `set -e
if command -v apt-get >/dev/null; then echo ${shellQuote(`deb [trusted=yes] ${repo} /`)} > /etc/apt/sources.list.d/tke.list && apt-get update -q
elif command -v yum >/dev/null; then printf '[tke]\\nname=tke\\nbaseurl=%s\\ngpgcheck=0\\n' ${shellQuote(repo)} > /etc/yum.repos.d/tke.repo
else echo 'neither apt-get nor yum' >&2; exit 1; fi`;
  }),
  // Hooks are files an operator supplies with TKE's installer; this server is given none.
  provisioningPhase('EnsurePreInstallHook', () => 'test ! -x /opt/tke/hooks/pre-install || /opt/tke/hooks/pre-install'),
  provisioningPhase(
    'EnsureClean',
    () => `command -v kubeadm >/dev/null && kubeadm reset -f || true
rm -rf /etc/kubernetes/kubelet.conf /etc/kubernetes/pki /var/lib/kubelet/pki`,
  ),
  provisioningPhase('EnsureRegistryHosts', pc => {
    const { registryDomain, registryIP } = pc.provisioning;
    // Without a private registry, images come from public ones: there is no host entry to add.
    if (!registryDomain || !registryIP) return 'true';
    return `grep -q ${shellQuote(` ${registryDomain}$`)} /etc/hosts || echo ${shellQuote(`${registryIP} ${registryDomain}`)} >> /etc/hosts`;
  }),
  provisioningPhase('EnsureInitAPIServerHost', pc => {
    const host = requireOption(pc, 'apiServerEndpoint', 'EnsureInitAPIServerHost').replace(/:\d+$/, '');
    return /^[\d.]+$/.test(host)
      ? 'true'
      : `grep -q ${shellQuote(` ${host}$`)} /etc/hosts || echo ${shellQuote(`${pc.machine.spec?.ip ?? ''} ${host}`)} >> /etc/hosts`;
  }),
  provisioningPhase(
    'EnsureKernelModule',
    () => `set -e
for m in iptable_nat ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh br_netfilter; do modprobe "$m"; done
printf '%s\\n' iptable_nat ip_vs ip_vs_rr ip_vs_wrr ip_vs_sh br_netfilter > ${moduleFile}`,
  ),
  {
    name: 'EnsureSysctl',
    provisioning: false,
    // Persisted in its own file and applied now. The bridge keys exist only once br_netfilter is
    // loaded (EnsureKernelModule, a provisioning phase), so they are set only where they exist.
    run: async pc => {
      await mustRun(
        pc,
        'EnsureSysctl',
        `set -e
mkdir -p /etc/sysctl.d
echo 'net.ipv4.ip_forward = 1' > ${sysctlFile}
sysctl -w net.ipv4.ip_forward=1 >/dev/null
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
  printf 'net.bridge.bridge-nf-call-iptables = 1\\nnet.bridge.bridge-nf-call-ip6tables = 1\\n' >> ${sysctlFile}
  sysctl -w net.bridge.bridge-nf-call-iptables=1 net.bridge.bridge-nf-call-ip6tables=1 >/dev/null
fi`,
      );
      return { message: `net.ipv4.ip_forward = 1 (${sysctlFile})` };
    },
  },
  {
    name: 'EnsureDisableSwap',
    provisioning: false,
    run: async pc => {
      await mustRun(
        pc,
        'EnsureDisableSwap',
        `set -e
if [ "$(tail -n +2 /proc/swaps | wc -l)" -gt 0 ]; then swapoff -a; fi
if [ -f /etc/fstab ] && grep -Eq '^[^#].*[[:space:]]swap[[:space:]]' /etc/fstab; then sed -ri 's/^([^#].*[[:space:]]swap[[:space:]].*)$/#\\1/' /etc/fstab; fi`,
      );
      return { message: 'swap is off' };
    },
  },
  {
    name: 'EnsureManifestDir',
    provisioning: false,
    run: async pc => {
      await mustRun(pc, 'EnsureManifestDir', `mkdir -p ${manifestDir}`);
      return { message: manifestDir };
    },
  },
  { name: 'EnsurePreflight', provisioning: false, run: preflight },
  // TKE installs these only on machines labelled for GPUs; this server offers no GPU support, so
  // the phases check that none is asked for rather than install anything.
  provisioningPhase('EnsureNvidiaDriver', pc => (gpuRequested(pc) ? 'echo "GPU machines are not supported by this server" >&2; exit 1' : 'true')),
  provisioningPhase('EnsureNvidiaContainerRuntime', pc => (gpuRequested(pc) ? 'echo "GPU machines are not supported by this server" >&2; exit 1' : 'true')),
  provisioningPhase(
    'EnsureDocker',
    () => `set -e
command -v containerd >/dev/null || { if command -v apt-get >/dev/null; then apt-get install -y -q containerd; else yum install -y containerd; fi; }
mkdir -p /etc/containerd && { [ -s /etc/containerd/config.toml ] || containerd config default > /etc/containerd/config.toml; }
systemctl enable --now containerd`,
  ),
  provisioningPhase(
    'EnsureKubelet',
    pc => `set -e
v=${shellQuote(kubernetesVersion(pc))}
if command -v apt-get >/dev/null; then apt-get install -y -q "kubelet\${v:+=$v*}"; else yum install -y "kubelet\${v:+-$v}"; fi
systemctl enable kubelet`,
  ),
  provisioningPhase(
    'EnsureCNIPlugins',
    () => 'test -d /opt/cni/bin || { if command -v apt-get >/dev/null; then apt-get install -y -q kubernetes-cni; else yum install -y kubernetes-cni; fi; }',
  ),
  provisioningPhase(
    'EnsureConntrackTools',
    () =>
      'command -v conntrack >/dev/null || { if command -v apt-get >/dev/null; then apt-get install -y -q conntrack; else yum install -y conntrack-tools; fi; }',
  ),
  provisioningPhase(
    'EnsureKubeadm',
    pc => `set -e
v=${shellQuote(kubernetesVersion(pc))}
if command -v apt-get >/dev/null; then apt-get install -y -q "kubeadm\${v:+=$v*}"; else yum install -y "kubeadm\${v:+-$v}"; fi`,
  ),
  provisioningPhase('EnsureJoinPhasePreflight', pc => {
    const endpoint = requireOption(pc, 'apiServerEndpoint', 'EnsureJoinPhasePreflight');
    const token = requireOption(pc, 'joinToken', 'EnsureJoinPhasePreflight');
    const hash = requireOption(pc, 'caCertHash', 'EnsureJoinPhasePreflight');
    return `kubeadm join phase preflight ${shellQuote(endpoint)} --token ${shellQuote(token)} --discovery-token-ca-cert-hash ${shellQuote(hash)} --ignore-preflight-errors=all`;
  }),
  provisioningPhase('EnsureJoinPhaseKubeletStart', pc => {
    const endpoint = requireOption(pc, 'apiServerEndpoint', 'EnsureJoinPhaseKubeletStart');
    const token = requireOption(pc, 'joinToken', 'EnsureJoinPhaseKubeletStart');
    const hash = requireOption(pc, 'caCertHash', 'EnsureJoinPhaseKubeletStart');
    return `test -f /etc/kubernetes/kubelet.conf || kubeadm join phase kubelet-start ${shellQuote(endpoint)} --token ${shellQuote(token)} --discovery-token-ca-cert-hash ${shellQuote(hash)}`;
  }),
  provisioningPhase('EnsureKubeconfig', () => 'mkdir -p /root/.kube && cp /etc/kubernetes/kubelet.conf /root/.kube/config'),
  provisioningPhase('EnsureMarkNode', pc => {
    const labels = Object.entries(pc.machine.spec?.labels ?? {})
      .map(([k, v]) => shellQuote(`${k}=${v}`))
      .join(' ');
    return labels ? `kubectl --kubeconfig /etc/kubernetes/kubelet.conf label node "$(hostname | tr A-Z a-z)" --overwrite ${labels}` : 'true';
  }),
  provisioningPhase(
    'EnsureNodeReady',
    () => `for i in $(seq 60); do
  kubectl --kubeconfig /etc/kubernetes/kubelet.conf get node "$(hostname | tr A-Z a-z)" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}' | grep -q True && exit 0; sleep 5
done; echo 'the node did not become Ready within 5 minutes' >&2; exit 1`,
    330_000,
  ),
  provisioningPhase('EnsureDisableOffloading', () => 'command -v ethtool >/dev/null && ethtool --offload flannel.1 rx off tx off 2>/dev/null || true'),
  provisioningPhase('EnsurePostInstallHook', () => 'test ! -x /opt/tke/hooks/post-install || /opt/tke/hooks/post-install'),
];

/** Best-effort undo on delete: a node is reset; otherwise the files this server wrote are removed. */
export function cleanupScript(provisioned: boolean): string {
  const reset = provisioned ? 'command -v kubeadm >/dev/null && kubeadm reset -f; ' : '';
  return `${reset}rm -f ${filesThisServerWrites.join(' ')}; rmdir ${manifestDir} /etc/kubernetes 2>/dev/null; true`;
}
