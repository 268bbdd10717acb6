// The in-process server: the handler main.ts serves, driven by supertest on a real PostgreSQL, and
// several such servers in one process, as replicas of one database.
import assert from 'node:assert/strict';
import { describeResponse } from '../support/http.ts';
import { paths, projectObject, uniqueName } from '../support/fixtures.ts';
import { startInProcess, type InProcessServer } from '../support/inprocess.ts';
import { waitFor } from '../support/wait.ts';

describe('in-process: the harness', function () {
  this.timeout(120_000);
  let a: InProcessServer;
  let b: InProcessServer;

  before(async () => {
    a = await startInProcess();
    // The second replica shares the database and the data dir (CA, bootstrap token, encryption key).
    b = await startInProcess({ databaseUrl: a.databaseUrl, dataDir: a.dataDir });
  });
  after(async () => {
    await b?.stop();
    await a?.stop();
  });

  it('serves health, discovery and the bootstrap admin through the request handler', async () => {
    await a.agent.get('/readyz').expect(200);
    const groups = await a.agent.get('/apis').expect(200);
    assert.ok(
      groups.body.groups.some((g: { name: string }) => g.name === 'business.tkestack.io'),
      JSON.stringify(groups.body),
    );
    await a.anonymous().get(paths.projects).expect(401);
    await a.as('not-a-token').get(paths.projects).expect(401);
  });

  it("acts as another user with that user's API key", async () => {
    const viewer = await a.user(uniqueName('viewer'));
    const denied = await viewer.agent.get(paths.projects);
    assert.equal(denied.status, 403, JSON.stringify(denied.body));
    assert.match(denied.body.message, new RegExp(viewer.username));
    const self = await viewer.agent.get('/apis/auth.tkestack.io/v1/apikeys').expect(200);
    assert.ok(self.body.items.length >= 1 && self.body.items.every((k: { spec: { username: string } }) => k.spec.username === viewer.username));
  });

  it('two servers on one database: a write on one is read and watched on the other', async () => {
    const start = (await b.request('GET', paths.projects)).json().metadata.resourceVersion;
    const w = b.openWatch(`${paths.projects}?watch=true&resourceVersion=${start}`);
    try {
      const name = uniqueName('prj');
      const made = await a.request('POST', paths.projects, { body: projectObject(name) });
      assert.equal(made.status, 201, describeResponse(made));
      const rv = made.json().metadata.resourceVersion;
      const got = await b.request('GET', `${paths.project(name)}?resourceVersion=${rv}&resourceVersionMatch=NotOlderThan`);
      assert.equal(got.status, 200, describeResponse(got));
      assert.equal(got.json().metadata.uid, made.json().metadata.uid);
      await waitFor(`the other server's watch to deliver ${name}`, () => w.events.some(e => e.type === 'ADDED' && e.object.metadata.name === name), 10_000);
      assert.equal(w.status(), 200, w.errorBody());
      const added = w.events.find(e => e.type === 'ADDED' && e.object.metadata.name === name)!;
      assert.equal(added.object.metadata.resourceVersion, rv);
    } finally {
      w.close();
    }
    await w.done;
  });

  it('a stopped server leaves the other serving', async () => {
    const c = await startInProcess({ databaseUrl: a.databaseUrl, dataDir: a.dataDir });
    await c.stop();
    await a.agent.get('/readyz').expect(200);
    await b.agent.get(paths.projects).expect(200);
  });
});
