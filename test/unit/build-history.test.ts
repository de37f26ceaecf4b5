import { describe, expect, it } from 'vitest';
import type { ImageConfig } from '../../src/oci/index.js';
import { copyCreatedBy, goDuration, goQuoteList, latestHistoryTime, runCreatedBy } from '../../src/build/history.js';
import { applyMetadata, resolveWorkdir, stageStartConfig, withCliLabels } from '../../src/build/metadata.js';
import type { MetadataInstruction } from '../../src/build/metadata.js';

const base = (): ImageConfig => ({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] }, config: { Env: ['PATH=/usr/bin', 'A=1'], Labels: { from: 'base' } } });

describe('created_by strings as BuildKit writes them', () => {
  it.each([
    [runCreatedBy(['/bin/sh', '-c', 'echo hi'], []), 'RUN /bin/sh -c echo hi # buildkit'],
    [runCreatedBy(['/bin/sh', '-c', 'make'], [['V', '1'], ['W', 'x y']]), 'RUN |2 V=1 W=x y /bin/sh -c make # buildkit'],
    [runCreatedBy(['make'], [['V', '1'], ['V', '2']]), 'RUN |1 V=2 make # buildkit'],
    [copyCreatedBy({ add: false, sources: ['app'], dest: '/app' }), 'COPY app /app # buildkit'],
    [copyCreatedBy({ add: true, chown: '1:2', chmod: '755', parents: true, sources: ['a', 'b'], dest: '/x/' }), 'ADD --parents --chown=1:2 --chmod=755 a b /x/ # buildkit'],
    [copyCreatedBy({ add: false, sources: [], heredocs: ['EOF'], dest: '/f' }), 'COPY <<EOF /f # buildkit'],
    [goQuoteList(['/bin/sh', '-c', 'echo "a\\b"\n']), '["/bin/sh" "-c" "echo \\"a\\\\b\\"\\n"]'],
  ])('%s', (got, want) => expect(got).toBe(want));
});

describe('Go duration strings (HEALTHCHECK history)', () => {
  it.each([
    [0, '0s'],
    [30e9, '30s'],
    [90e9, '1m30s'],
    [1.5e9, '1.5s'],
    [500e6, '500ms'],
    [3600e9 + 1e9, '1h0m1s'],
  ])('%d ns -> %s', (ns, want) => expect(goDuration(ns)).toBe(want));
});

type Case = [string, MetadataInstruction[], (c: ImageConfig) => unknown, unknown, string[]];

const cases: Case[] = [
  ['ENV replaces a key in place and appends new ones', [{ op: 'env', pairs: [['A', '2'], ['B', 'x y']] }], (c) => c.config?.Env, ['PATH=/usr/bin', 'A=2', 'B=x y'], ['ENV A=2 B=x y']],
  ['LABEL merges over the base labels', [{ op: 'label', pairs: [['k', 'v']] }], (c) => c.config?.Labels, { from: 'base', k: 'v' }, ['LABEL k=v']],
  ['EXPOSE defaults to tcp and expands ranges', [{ op: 'expose', ports: ['80', '53/UDP', '8000-8001'] }], (c) => Object.keys(c.config?.ExposedPorts ?? {}), ['80/tcp', '53/udp', '8000/tcp', '8001/tcp'], ['EXPOSE [80/tcp 53/udp 8000/tcp 8001/tcp]']],
  ['USER', [{ op: 'user', user: 'app:app' }], (c) => c.config?.User, 'app:app', ['USER app:app']],
  ['VOLUME', [{ op: 'volume', paths: ['/data', '/logs'] }], (c) => c.config?.Volumes, { '/data': {}, '/logs': {} }, ['VOLUME [/data /logs]']],
  ['STOPSIGNAL', [{ op: 'stopsignal', signal: 'SIGTERM' }], (c) => c.config?.StopSignal, 'SIGTERM', ['STOPSIGNAL SIGTERM']],
  ['SHELL', [{ op: 'shell', shell: ['/bin/bash', '-c'] }], (c) => c.config?.Shell, ['/bin/bash', '-c'], ['SHELL [/bin/bash -c]']],
  ['CMD shell form goes through the shell', [{ op: 'cmd', args: ['echo', 'hi'], form: 'shell' }], (c) => c.config?.Cmd, ['/bin/sh', '-c', 'echo hi'], ['CMD ["/bin/sh" "-c" "echo hi"]']],
  ['CMD shell form uses the SHELL set before', [{ op: 'shell', shell: ['/bin/ash', '-eo'] }, { op: 'cmd', args: ['run'], form: 'shell' }], (c) => c.config?.Cmd, ['/bin/ash', '-eo', 'run'], ['SHELL [/bin/ash -eo]', 'CMD ["/bin/ash" "-eo" "run"]']],
  ['ENTRYPOINT resets an inherited CMD', [{ op: 'entrypoint', args: ['/app'], form: 'exec' }], (c) => [c.config?.Entrypoint, c.config?.Cmd], [['/app'], null], ['ENTRYPOINT ["/app"]']],
  ['ENTRYPOINT keeps a CMD set in the same stage', [{ op: 'cmd', args: ['--help'], form: 'exec' }, { op: 'entrypoint', args: ['/app'], form: 'exec' }], (c) => c.config?.Cmd, ['--help'], ['CMD ["--help"]', 'ENTRYPOINT ["/app"]']],
  ['WORKDIR resolves relative to the previous one', [{ op: 'workdir', path: '/app' }, { op: 'workdir', path: 'src/../lib' }], (c) => c.config?.WorkingDir, '/app/lib', ['WORKDIR /app', 'WORKDIR /app/lib']],
  ['ONBUILD is recorded without history', [{ op: 'onbuild', expression: 'RUN echo x' }], (c) => c.config?.OnBuild, ['RUN echo x'], []],
  ['MAINTAINER sets the author', [{ op: 'maintainer', name: 'me <me@x>' }], (c) => c.author, 'me <me@x>', ['MAINTAINER me <me@x>']],
  ['ARG is recorded in history only', [{ op: 'arg', names: ['V=1', 'W'] }], (c) => c.config?.Env, ['PATH=/usr/bin', 'A=1'], ['ARG V=1 W']],
  ['HEALTHCHECK', [{ op: 'healthcheck', test: ['CMD-SHELL', 'true'], interval: 30e9, retries: 3 }], (c) => c.config?.Healthcheck, { Test: ['CMD-SHELL', 'true'], Interval: 30e9, Retries: 3 }, ['HEALTHCHECK {Test:[CMD-SHELL true] Interval:30s Timeout:0s StartPeriod:0s StartInterval:0s Retries:3}']],
  ['HEALTHCHECK NONE', [{ op: 'healthcheck', test: ['NONE'] }], (c) => c.config?.Healthcheck, { Test: ['NONE'] }, ['HEALTHCHECK {Test:[NONE] Interval:0s Timeout:0s StartPeriod:0s StartInterval:0s Retries:0}']],
];

describe('metadata instructions change the config and add history', () => {
  it.each(cases)('%s', (_name, ins, pick, want, history) => {
    let c = base();
    const state = { cmdSet: false };
    let layers = 0;
    for (const i of ins) {
      const r = applyMetadata(c, i, state);
      c = r.config;
      if (r.layer) layers++;
    }
    expect(pick(c)).toEqual(want);
    expect((c.history ?? []).map((h) => h.created_by)).toEqual(history);
    const wantLayers = ins.filter((i) => i.op === 'workdir').length;
    expect(layers).toBe(wantLayers);
    expect((c.history ?? []).filter((h) => h.empty_layer !== true).length).toBe(wantLayers);
    for (const h of c.history ?? []) expect(h.comment).toBe('buildkit.dockerfile.v0');
  });

  it('inherits the base config and drops its ONBUILD triggers', () => {
    const b = base();
    b.config = { ...b.config, OnBuild: ['RUN x'] };
    const s = stageStartConfig(b);
    expect(s.config?.OnBuild).toBeUndefined();
    expect(s.config?.Labels).toEqual({ from: 'base' });
    expect(b.config?.OnBuild).toEqual(['RUN x']);
  });

  it('WORKDIR / makes no layer', () => {
    const r = applyMetadata(base(), { op: 'workdir', path: '/' }, { cmdSet: false });
    expect(r.layer).toBe(false);
    expect(r.config.history?.[0]?.empty_layer).toBe(true);
  });

  it.each([
    [undefined, 'a', '/a'],
    ['/x', '../../y', '/y'],
    ['/x/', './z/', '/x/z'],
  ])('resolveWorkdir(%s, %s) = %s', (cur, p, want) => expect(resolveWorkdir(cur, p)).toBe(want));

  it('--label applies on top without history', () => {
    const c = withCliLabels(base(), { a: 'b' });
    expect(c.config?.Labels).toEqual({ from: 'base', a: 'b' });
    expect(c.history).toBeUndefined();
  });
});

describe('latestHistoryTime (the image created of a build without --timestamp)', () => {
  const cfg = (times: (string | undefined)[]): ImageConfig => ({ ...base(), history: times.map((t) => (t === undefined ? { created_by: 'x' } : { created: t, created_by: 'x' })) });
  it.each([
    [[], undefined],
    [[undefined, undefined], undefined],
    [['2024-01-01T00:00:00Z', '2025-06-01T10:00:00Z', '2024-03-01T00:00:00Z'], '2025-06-01T10:00:00Z'],
    // fractional seconds compare by time, not as text ('.' sorts before 'Z')
    [['2024-01-01T00:00:00Z', '2024-01-01T00:00:00.5Z'], '2024-01-01T00:00:00.5Z'],
    [['2024-01-01T00:00:00.999999999Z', '2024-01-01T00:00:01Z'], '2024-01-01T00:00:01Z'],
    [['not a time', '2020-01-01T00:00:00Z', undefined], '2020-01-01T00:00:00Z'],
  ] as [(string | undefined)[], string | undefined][])('%j -> %s', (times, want) => expect(latestHistoryTime(cfg(times))).toBe(want));
  it('looks only at the entries from `from` on (the build\'s own steps, not the base\'s)', () => {
    const c = cfg(['2100-01-01T00:00:00Z', '2024-01-01T00:00:00Z', '2024-02-01T00:00:00Z']);
    expect(latestHistoryTime(c, 1)).toBe('2024-02-01T00:00:00Z');
    expect(latestHistoryTime(c, 3)).toBeUndefined();
  });
});
