import assert from 'node:assert/strict';
import { evaluate, keyMatch, singularize, tkeAttributes, type Grant } from '../../pkg/apis/auth/policyengine.ts';
import { decodePassword, hashPassword, validatePassword, validateUsername, verifyPassword } from '../../pkg/apis/auth/password.ts';
import { parseDuration } from '../../pkg/apis/auth/apikeytokens.ts';
import { predefinedPolicies } from '../../pkg/apis/auth/predefined.ts';

const allow = (actions: string[], resources: string[], policy = 'p', project?: string): Grant => ({
  policy,
  project,
  statement: { actions, resources, effect: 'allow' },
});
const deny = (actions: string[], resources: string[], policy = 'd'): Grant => ({ policy, statement: { actions, resources, effect: 'deny' } });

describe('auth policy engine', () => {
  describe('keyMatch (TKE keyMatchCustom)', () => {
    it('matches whole strings, case-insensitively', () => {
      assert.ok(keyMatch('getCluster', 'getcluster'));
      assert.ok(!keyMatch('getClusters', 'getCluster'));
      assert.ok(!keyMatch('xgetCluster', 'getCluster'));
    });
    it('expands * over any characters, slashes included', () => {
      assert.ok(keyMatch('listProjects', 'list*'));
      assert.ok(keyMatch('updateProjectStatus', '*Project*'));
      assert.ok(keyMatch('cluster:cls-1/namespace:ns-1/deployment:web', 'cluster:cls-1/namespace:ns-1/*'));
      assert.ok(!keyMatch('cluster:cls-2/namespace:ns-1/deployment:web', 'cluster:cls-1/namespace:ns-1/*'));
      assert.ok(keyMatch('anything/at:all', '*'));
    });
    it('treats regular-expression characters literally', () => {
      assert.ok(!keyMatch('getXcluster', 'get.cluster'));
      assert.ok(keyMatch('a+b', 'a+b'));
      assert.ok(!keyMatch('aab', 'a+b'));
    });
  });

  describe('evaluate', () => {
    const attrs = { action: 'getCluster', resource: 'cluster:cls-1', project: '' };
    it('allows on a matching allow statement', () => {
      assert.deepEqual(evaluate([allow(['get*'], ['*'])], attrs), { allowed: true, allowedBy: 'p' });
    });
    it('denies with no matching statement', () => {
      assert.equal(evaluate([allow(['list*'], ['*'])], attrs).allowed, false);
      assert.equal(evaluate([allow(['get*'], ['cluster:cls-2'])], attrs).allowed, false);
      assert.equal(evaluate([], attrs).allowed, false);
    });
    it('lets an explicit deny win over any allow, in any order', () => {
      assert.deepEqual(evaluate([allow(['*'], ['*']), deny(['getCluster'], ['cluster:*'])], attrs), { allowed: false, deniedBy: 'd' });
      assert.deepEqual(evaluate([deny(['get*'], ['*']), allow(['*'], ['*'])], attrs), { allowed: false, deniedBy: 'd' });
    });
    it('applies project grants only inside their project', () => {
      const g = allow(['createNamespace'], ['*'], 'member', 'prj-1');
      assert.equal(evaluate([g], { action: 'createNamespace', resource: 'project:prj-1/namespace:*', project: 'prj-1' }).allowed, true);
      assert.equal(evaluate([g], { action: 'createNamespace', resource: 'project:prj-2/namespace:*', project: 'prj-2' }).allowed, false);
      assert.equal(evaluate([g], { action: 'createNamespace', resource: 'namespace:*', project: '' }).allowed, false);
    });
  });

  describe('request -> action and resource', () => {
    const base = { apiGroup: 'platform.tkestack.io', subresource: '', namespace: '', name: '' };
    it('names get/list/create by verb and kind', () => {
      assert.equal(tkeAttributes({ ...base, verb: 'get', resource: 'clusters', name: 'cls-1' }).action, 'getCluster');
      assert.equal(tkeAttributes({ ...base, verb: 'get', resource: 'clusters', name: 'cls-1' }).resource, 'cluster:cls-1');
      assert.equal(tkeAttributes({ ...base, verb: 'list', resource: 'clusters' }).action, 'listClusters');
      assert.equal(tkeAttributes({ ...base, verb: 'watch', resource: 'clusters' }).action, 'watchClusters');
      assert.equal(tkeAttributes({ ...base, verb: 'list', resource: 'clusters' }).resource, 'cluster:*');
      assert.equal(tkeAttributes({ ...base, verb: 'create', resource: 'clusters' }).action, 'createCluster');
      assert.equal(tkeAttributes({ ...base, verb: 'deletecollection', resource: 'clusters' }).action, 'deleteCluster');
    });
    it('appends the subresource and counts patch as update', () => {
      assert.equal(
        tkeAttributes({ ...base, apiGroup: 'business.tkestack.io', verb: 'update', resource: 'projects', name: 'prj-1', subresource: 'status' }).action,
        'updateProjectStatus',
      );
      assert.equal(tkeAttributes({ ...base, apiGroup: 'business.tkestack.io', verb: 'patch', resource: 'projects', name: 'prj-1' }).action, 'updateProject');
      assert.equal(
        tkeAttributes({ ...base, apiGroup: 'auth.tkestack.io', verb: 'create', resource: 'policies', name: 'pol-1', subresource: 'binding' }).action,
        'createPolicyBinding',
      );
    });
    it('puts business objects under their project and others under namespace and cluster', () => {
      const ns = tkeAttributes({ ...base, apiGroup: 'business.tkestack.io', verb: 'create', resource: 'namespaces', namespace: 'prj-1' });
      assert.deepEqual(ns, { action: 'createNamespace', resource: 'project:prj-1/namespace:*', project: 'prj-1' });
      const dep = tkeAttributes({ ...base, apiGroup: 'apps', verb: 'get', resource: 'deployments', namespace: 'ns-1', name: 'web', cluster: 'cls-1' });
      assert.equal(dep.resource, 'cluster:cls-1/namespace:ns-1/deployment:web');
      assert.equal(tkeAttributes({ ...base, apiGroup: 'business.tkestack.io', verb: 'get', resource: 'projects', name: 'prj-1' }).project, 'prj-1');
    });
    it('singularizes Kubernetes plurals', () => {
      for (const [p, s] of [
        ['policies', 'policy'],
        ['clusters', 'cluster'],
        ['ingresses', 'ingress'],
        ['localidentities', 'localidentity'],
        ['namespaces', 'namespace'],
        ['endpoints', 'endpoints'],
      ]) {
        assert.equal(singularize(p), s);
      }
    });
  });

  describe('predefined policies', () => {
    it("seeds TKE's policies per tenant, PlatformAdmin allowing everything", () => {
      const ps = predefinedPolicies('t1');
      const admin = ps.find(p => p.metadata.name === 'pol-t1-administrator');
      assert.equal(admin?.spec?.displayName, 'PlatformAdmin');
      assert.deepEqual((admin?.spec?.statement as { actions: string[] } | undefined)?.actions, ['*']);
      for (const n of ['PlatformUser', 'PlatformLogin', 'ProjectAdmin', 'ProjectMember', 'ProjectViewer', 'ReadOnlyAccess', 'ClusterFullAccess']) {
        assert.ok(
          ps.some(p => p.spec?.displayName === n),
          n,
        );
      }
      assert.ok(ps.every(p => p.spec?.tenantID === 't1'));
      assert.equal(new Set(ps.map(p => p.metadata.name)).size, ps.length, 'names are unique');
    });
  });
});

describe('auth passwords', () => {
  it('hashes with scrypt and verifies', async () => {
    const h = await hashPassword('Passw0rd123');
    assert.match(h, /^scrypt\$/);
    assert.ok(!h.includes('Passw0rd123'));
    assert.equal(await verifyPassword('Passw0rd123', h), true);
    assert.equal(await verifyPassword('Passw0rd124', h), false);
    assert.equal(await verifyPassword('Passw0rd123', undefined), false);
  });
  it("enforces the manual's account and password rules", () => {
    assert.equal(validateUsername('ab'), 'must be 3 to 32 characters long');
    assert.ok(validateUsername('Alice'));
    assert.ok(validateUsername('-alice'));
    assert.equal(validateUsername('alice-1'), undefined);
    assert.ok(validatePassword('Short1A'));
    assert.ok(validatePassword('alllowercase123'));
    assert.ok(validatePassword('NoDigitsHereAtAll'));
    assert.ok(validatePassword('Waytoolongpassword123'));
    assert.equal(validatePassword('Passw0rd123'), undefined);
  });
  it("takes TKE's base64-encoded passwords and plain ones", () => {
    assert.equal(decodePassword(Buffer.from('Passw0rd123').toString('base64')), 'Passw0rd123');
    assert.equal(decodePassword('Passw0rd123'), 'Passw0rd123');
  });
  it('parses Go durations', () => {
    assert.equal(parseDuration('1h'), 3_600_000);
    assert.equal(parseDuration('720h0m0s'), 720 * 3_600_000);
    assert.equal(parseDuration('1.5m'), 90_000);
    assert.equal(parseDuration('1x'), undefined);
    assert.equal(parseDuration(''), undefined);
  });
});
