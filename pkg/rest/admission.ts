// Admission: plugins that may change (mutate) or refuse (validate) a write after the
// strategy made it final. Validating plugins run inside the write transaction, so a plugin
// that checks an invariant over many objects (a quota) sees and locks what it checks.
import type { KubeObject } from '../../api/meta/v1/types.ts';
import type { Transaction } from '../storage/interface.ts';
import type { Operation, ResourceDefinition, UserInfo } from './resource.ts';

export interface AdmissionAttributes {
  operation: Operation;
  resource: ResourceDefinition;
  subresource: string;
  namespace: string;
  name: string;
  /** The object to be written (undefined for DELETE). Mutating plugins may change it. */
  object: KubeObject | undefined;
  oldObject: KubeObject | undefined;
  user: UserInfo;
  dryRun: boolean;
  tx: Transaction;
}

export interface AdmissionPlugin {
  name: string;
  /** Whether the plugin cares about this request at all. */
  handles(attrs: Pick<AdmissionAttributes, 'operation' | 'resource' | 'subresource'>): boolean;
  admit?(attrs: AdmissionAttributes): Promise<void>;
  /** Throw a StatusError (usually 403 Forbidden or 422 Invalid) to refuse. */
  validate?(attrs: AdmissionAttributes): Promise<void>;
}

export class AdmissionChain {
  constructor(private readonly plugins: AdmissionPlugin[] = []) {}

  register(plugin: AdmissionPlugin): void {
    this.plugins.push(plugin);
  }

  async run(attrs: AdmissionAttributes): Promise<void> {
    const relevant = this.plugins.filter(p => p.handles(attrs));
    for (const p of relevant) if (p.admit) await p.admit(attrs);
    for (const p of relevant) if (p.validate) await p.validate(attrs);
  }
}
