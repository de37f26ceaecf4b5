import { describe, expect, it } from 'vitest';
import { parseBuildArgs, parseSecretSpec, parseSshSpec, parseBuildTimestamp, parseKeyValueFlags } from '../../src/build/flags.js';
import { buildOptionsFromArgs } from '../../src/cli/commands/build.js';

describe('--secret, --ssh, --build-arg, --label', () => {
  it.each([
    ['id=npm,src=/tmp/npmrc', { id: 'npm', src: '/tmp/npmrc' }],
    ['id=tok,env=TOKEN', { id: 'tok', env: 'TOKEN' }],
    ['id=TOKEN', { id: 'TOKEN', env: 'TOKEN' }],
    ['type=file,id=a,source=/x', { id: 'a', src: '/x' }],
  ])('--secret %s', (v, want) => expect(parseSecretSpec(v)).toEqual(want));
  it.each([['src=/x', /missing id/], ['id=a,src=/x,env=Y', /not both/], ['id=a,foo=1', /unknown field/]])('--secret %s refused', (v, msg) =>
    expect(() => parseSecretSpec(v)).toThrow(msg),
  );
  it('--ssh default takes SSH_AUTH_SOCK; ID=PATH takes the paths', () => {
    expect(parseSshSpec('default', { SSH_AUTH_SOCK: '/run/agent' })).toEqual({ id: 'default', paths: ['/run/agent'] });
    expect(parseSshSpec('gh=/a,/b', {})).toEqual({ id: 'gh', paths: ['/a', '/b'] });
    expect(() => parseSshSpec('default', {})).toThrow(/SSH_AUTH_SOCK/);
  });
  it('--build-arg K=V, K from the environment, unset K skipped', () => {
    expect(parseBuildArgs(['A=1', 'B=x=y', 'C', 'D'], { C: 'env' })).toEqual({ A: '1', B: 'x=y', C: 'env' });
    expect(() => parseBuildArgs(['=1'], {})).toThrow(/empty key/);
  });
  it('--label last wins; needs K=V', () => {
    expect(parseKeyValueFlags(['a=1', 'a=2', 'b='], '--label')).toEqual({ a: '2', b: '' });
    expect(() => parseKeyValueFlags(['a'], '--label')).toThrow(/--label: expected KEY=VALUE/);
  });
  it('timestamps are unix seconds', () => {
    expect(parseBuildTimestamp('1700000000')).toBe(1700000000);
    expect(() => parseBuildTimestamp('yesterday')).toThrow(/unix seconds/);
  });
});

describe('slipway build flags -> BuildOptions', () => {
  const parse = (values: Record<string, string | boolean | string[]>, env: NodeJS.ProcessEnv = {}) =>
    buildOptionsFromArgs({ values, positionals: ['ctx'], env }, '/w');

  it('resolves paths against the cwd and defaults the output to the store', () => {
    const { options, progress } = parse({ file: 'd/Dockerfile', tag: ['a:1', 'b:2'] });
    expect(options.context).toBe('/w/ctx');
    expect(options.file).toBe('/w/d/Dockerfile');
    expect(options.tags).toEqual(['a:1', 'b:2']);
    expect(options.outputs).toEqual([]);
    expect(progress).toBe('auto');
  });
  it('--push adds a registry output and needs a tag', () => {
    expect(parse({ push: true, tag: ['r/a:1'] }).options.outputs).toMatchObject([{ type: 'registry', push: true, names: [] }]);
    expect(parse({ output: ['type=registry'], tag: ['r/a:1'] }).options.outputs).toMatchObject([{ type: 'registry', push: true, names: [] }]);
    expect(() => parse({ push: true })).toThrow(/needs at least one -t/);
  });
  it('several outputs at once', () => {
    const o = parse({ output: ['type=oci,dest=o', 'type=local,dest=l'] }).options.outputs;
    expect(o).toMatchObject([{ type: 'oci', dest: '/w/o', tar: false }, { type: 'local', dest: '/w/l' }]);
  });
  it('-q means quiet progress; enumerated flags are checked', () => {
    expect(parse({ quiet: true }).progress).toBe('quiet');
    expect(() => parse({ isolation: 'vm' })).toThrow(/--isolation: "vm" is not one of oci, chroot/);
    expect(() => parse({ network: 'bridge' })).toThrow(/--network/);
    expect(() => parse({ compression: 'lz4' })).toThrow(/--compression/);
    expect(() => parse({ jobs: '0' })).toThrow(/--jobs/);
  });
  it('SOURCE_DATE_EPOCH is the default --timestamp', () => {
    expect(parse({}, { SOURCE_DATE_EPOCH: '42' }).options.timestamp).toBe(42);
    expect(parse({ timestamp: '7' }, { SOURCE_DATE_EPOCH: '42' }).options.timestamp).toBe(7);
  });
  it('platform, target, no-cache-filter, secrets', () => {
    const { options } = parse({ platform: 'linux/arm64', target: 'build', 'no-cache-filter': ['a'], secret: ['id=s,src=f'], 'no-cache': true, pull: true });
    expect(options.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(options.target).toBe('build');
    expect(options.noCacheFilter).toEqual(['a']);
    expect(options.secrets).toEqual([{ id: 's', src: '/w/f' }]);
    expect(options.noCache).toBe(true);
    expect(options.pull).toBe(true);
  });
});
