import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { OptionsError, parseOptions, usage } from '../../cmd/tke-apiserver/options.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function parseError(argv: string[], env: Record<string, string> = {}): OptionsError {
  try {
    parseOptions(argv, env);
  } catch (err) {
    assert.ok(err instanceof OptionsError, `expected OptionsError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    return err;
  }
  assert.fail(`parseOptions(${JSON.stringify(argv)}) did not fail`);
}

describe('options', () => {
  it('has kube-apiserver defaults', () => {
    const o = parseOptions([], {});
    assert.equal(o.dataDir, '.data');
    assert.equal(o.bindAddress, '127.0.0.1');
    assert.equal(o.securePort, 9443);
    assert.equal(o.databaseUrl, undefined);
    assert.equal(o.clientCAFile, undefined);
    assert.deepEqual(o.requestHeader, {
      clientCAFile: undefined,
      allowedNames: [],
      usernameHeaders: ['X-Remote-User'],
      groupHeaders: ['X-Remote-Group'],
      extraHeadersPrefix: ['X-Remote-Extra-'],
    });
    assert.equal(o.verbosity, 0);
    assert.equal(o.printKubectl, false);
    assert.equal(o.help, false);
  });

  it('accepts --flag value and --flag=value', () => {
    const a = parseOptions(['--data-dir', '/tmp/d', '--secure-port', '6443', '--bind-address', '0.0.0.0'], {});
    const b = parseOptions(['--data-dir=/tmp/d', '--secure-port=6443', '--bind-address=0.0.0.0'], {});
    assert.deepEqual(a, b);
    assert.equal(a.dataDir, '/tmp/d');
    assert.equal(a.securePort, 6443);
    assert.equal(a.bindAddress, '0.0.0.0');
  });

  it('splits list flags on commas and appends repeats, replacing the default', () => {
    const o = parseOptions(
      [
        '--requestheader-allowed-names',
        'front-proxy-client, aggregator',
        '--requestheader-allowed-names=third',
        '--requestheader-username-headers=X-User,X-Remote-User',
        '--requestheader-group-headers',
        'X-Group',
        '--requestheader-extra-headers-prefix=X-Extra-,X-Remote-Extra-',
      ],
      {},
    );
    assert.deepEqual(o.requestHeader.allowedNames, ['front-proxy-client', 'aggregator', 'third']);
    assert.deepEqual(o.requestHeader.usernameHeaders, ['X-User', 'X-Remote-User']);
    assert.deepEqual(o.requestHeader.groupHeaders, ['X-Group']);
    assert.deepEqual(o.requestHeader.extraHeadersPrefix, ['X-Extra-', 'X-Remote-Extra-']);
    assert.deepEqual(parseOptions(['--requestheader-allowed-names='], {}).requestHeader.allowedNames, []);
  });

  it('reads verbosity in every klog spelling', () => {
    for (const argv of [['-v', '4'], ['-v=4'], ['--v=4'], ['--v', '4'], ['-v4']]) {
      assert.equal(parseOptions(argv, {}).verbosity, 4, argv.join(' '));
    }
    parseError(['-v', 'high']);
  });

  it('takes the certificate and CA file flags', () => {
    const o = parseOptions(
      [
        '--tls-cert-file',
        'a.crt',
        '--tls-private-key-file=a.key',
        '--client-ca-file',
        'client-ca.crt',
        '--requestheader-client-ca-file=fp-ca.crt',
        '--tls-san',
        'api.example.com,10.0.0.1',
        '--external-hostname',
        'tke.example.com',
      ],
      {},
    );
    assert.equal(o.tlsCertFile, 'a.crt');
    assert.equal(o.tlsPrivateKeyFile, 'a.key');
    assert.equal(o.clientCAFile, 'client-ca.crt');
    assert.equal(o.requestHeader.clientCAFile, 'fp-ca.crt');
    assert.deepEqual(o.tlsSANs, ['api.example.com', '10.0.0.1', 'tke.example.com']);
  });

  it('takes the database URL from the flag, else DATABASE_URL', () => {
    assert.equal(parseOptions([], { DATABASE_URL: 'postgres://u@h/db' }).databaseUrl, 'postgres://u@h/db');
    assert.equal(parseOptions(['--database-url', 'postgresql://x/y'], { DATABASE_URL: 'postgres://u@h/db' }).databaseUrl, 'postgresql://x/y');
    assert.equal(parseOptions([], { DATABASE_URL: '' }).databaseUrl, undefined);
    const err = parseError(['--database-url', 'mysql://root:secret@h/db']);
    assert.ok(!err.message.includes('secret'), 'must not echo credentials');
  });

  it('parses booleans', () => {
    assert.equal(parseOptions(['--print-kubectl'], {}).printKubectl, true);
    assert.equal(parseOptions(['--print-kubectl=false'], {}).printKubectl, false);
    assert.equal(parseOptions(['--print-kubectl=true', '--secure-port', '1'], {}).securePort, 1);
    parseError(['--print-kubectl=maybe']);
  });

  it('rejects unknown flags with a clear message', () => {
    assert.match(parseError(['--etcd-servers', 'x']).message, /unknown flag: --etcd-servers/);
    assert.match(parseError(['-x']).message, /unknown flag: -x/);
    assert.match(parseError(['--data-dir', 'd', '--secure-prot=1']).message, /unknown flag: --secure-prot/);
  });

  it('rejects bad values and missing arguments', () => {
    assert.match(parseError(['--secure-port', 'abc']).message, /--secure-port/);
    assert.match(parseError(['--secure-port', '70000']).message, /between 0 and 65535/);
    assert.match(parseError(['--data-dir']).message, /flag needs an argument: --data-dir/);
    assert.match(parseError(['--data-dir', '--secure-port', '1']).message, /flag needs an argument: --data-dir/);
    assert.match(parseError(['--bind-address', 'localhost']).message, /--bind-address/);
    assert.match(parseError(['serve']).message, /unexpected argument "serve"/);
    assert.match(parseError(['--tls-cert-file', 'a.crt']).message, /--tls-private-key-file/);
  });

  it('--help wins and the usage names every flag', () => {
    assert.equal(parseOptions(['--help'], {}).help, true);
    assert.equal(parseOptions(['-h', '--secure-port', 'abc'], {}).help, true);
    const text = usage();
    for (const f of [
      '--data-dir',
      '--secure-port',
      '--bind-address',
      '--database-url',
      '--tls-cert-file',
      '--tls-private-key-file',
      '--client-ca-file',
      '--requestheader-client-ca-file',
      '--requestheader-allowed-names',
      '--requestheader-username-headers',
      '--requestheader-group-headers',
      '--requestheader-extra-headers-prefix',
      '-v',
      '--print-kubectl',
      '--help',
    ]) {
      assert.ok(text.includes(f), `usage lacks ${f}`);
    }
  });

  it('parseOptionsOrExit exits 2 on an unknown flag and 0 on --help', () => {
    const run = (args: string[]) =>
      spawnSync(
        process.execPath,
        [
          '--import',
          'tsx',
          '-e',
          `import('./cmd/tke-apiserver/options.ts').then(m => { m.parseOptionsOrExit(${JSON.stringify(args)}, {}); console.log('parsed'); })`,
        ],
        { cwd: repoRoot, encoding: 'utf8' },
      );
    const bad = run(['--no-such-flag']);
    assert.equal(bad.status, 2, bad.stderr);
    assert.match(bad.stderr, /unknown flag: --no-such-flag/);
    const help = run(['--help']);
    assert.equal(help.status, 0, help.stderr);
    assert.match(help.stdout, /--requestheader-client-ca-file/);
    const ok = run(['--secure-port', '0']);
    assert.equal(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /parsed/);
  });
});
