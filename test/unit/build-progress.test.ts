import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress, plainLines, resolveProgressMode } from '../../src/cli/progress.js';
import type { BuildEvent } from '../../src/build/options.js';

class Sink extends Writable {
  text = '';
  isTTY: boolean;
  columns = 100;
  constructor(tty: boolean) {
    super();
    this.isTTY = tty;
  }
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.text += chunk.toString();
    cb();
  }
  // what ora asks of a TTY stream
  cursorTo(): boolean { return true; }
  moveCursor(): boolean { return true; }
  clearLine(): boolean { return true; }
}

const events: BuildEvent[] = [
  { type: 'mode', isolation: 'oci', rootless: true, storageDriver: 'overlay', root: '/r', mode: 1, line: 'mode 1 (rootless: RUN steps in namespaces)' },
  { type: 'step-start', id: '0.1', stage: 'app', index: 1, total: 2, text: 'RUN make' },
  { type: 'step-miss', id: '0.1', key: 'sha256:k', miss: { reason: 'not-found', part: 'sources' }, parts: [{ name: 'instruction', value: 'RUN make' }] },
  { type: 'step-output', id: '0.1', stream: 'stdout', line: 'compiling' },
  { type: 'step-done', id: '0.1', ms: 1500, cached: false, layer: 'sha256:0123456789abcdef0123' },
  { type: 'step-start', id: '0.2', stage: 'app', index: 2, total: 2, text: 'COPY a /a' },
  { type: 'step-cached', id: '0.2', key: 'sha256:c' },
  { type: 'step-done', id: '0.2', ms: 1, cached: true },
  { type: 'done', digest: 'sha256:d', configDigest: 'sha256:c', outputs: ['local store as x:1'], ms: 2000 },
];

describe('progress', () => {
  it.each([
    ['auto', true, {}, 'tty'],
    ['auto', true, { CI: 'true' }, 'plain'],
    ['auto', false, {}, 'plain'],
    ['plain', true, {}, 'plain'],
    ['tty', false, {}, 'tty'],
    ['quiet', true, {}, 'quiet'],
  ] as const)('--progress %s (tty %s, env %j) -> %s', (mode, tty, env, want) => expect(resolveProgressMode(mode, tty, env)).toBe(want));

  it('plain mode: timestamped prefixed lines, the mode first, CACHED or the miss reason, the digest last', () => {
    const s = new Sink(false);
    const p = createProgress({ mode: 'plain', stream: s, env: {}, debug: false });
    for (const e of events) p.event(e);
    p.finish();
    const lines = s.text.trim().split('\n');
    for (const l of lines) expect(l).toMatch(/^\d\d:\d\d:\d\d\.\d{3} /);
    expect(lines[0]).toContain('slipway: mode 1 (rootless: RUN steps in namespaces); isolation=oci rootless=true storage-driver=overlay');
    expect(s.text).toContain('[app 1/2] RUN make');
    expect(s.text).toContain('[app 1/2] cache miss: not-found (sources changed)');
    expect(s.text).toContain('[app 1/2] compiling');
    expect(s.text).toContain('[app 1/2] done in 1.5s');
    expect(s.text).toContain('[app 2/2] CACHED');
    expect(lines[lines.length - 1]).toContain('image sha256:d (config sha256:c) -> local store as x:1');
  });

  it('tty mode draws with ora and prints finished steps above the spinner', async () => {
    const s = new Sink(true);
    const p = createProgress({ mode: 'tty', stream: s as unknown as NodeJS.WritableStream & { isTTY: boolean }, env: {}, debug: false });
    for (const e of events.slice(0, 4)) p.event(e);
    await new Promise((r) => setTimeout(r, 300));
    for (const e of events.slice(4)) p.event(e);
    p.finish();
    expect(s.text).toContain('[app 1/2] RUN make');
    expect(s.text).toContain('compiling');
    expect(s.text).toMatch(/✔ \[app 1\/2\] RUN make 1\.5s/);
    expect(s.text).toMatch(/= \[app 2\/2\] COPY a \/a CACHED/);
  });

  it('quiet mode prints nothing but warnings', () => {
    const s = new Sink(false);
    const p = createProgress({ mode: 'quiet', stream: s, env: {}, debug: false });
    for (const e of events) p.event(e);
    p.event({ type: 'warning', message: 'unused build-arg X' });
    expect(s.text).toBe('WARNING: unused build-arg X\n');
  });

  it('--debug lists the key parts of a miss', () => {
    const labels = new Map([['0.1', '[app 1/2]']]);
    expect(plainLines(events[2] as BuildEvent, labels, true)).toEqual(['[app 1/2] cache miss: not-found (sources changed)', '[app 1/2]   key instruction: RUN make']);
  });

  it('plainLines hides the plan unless --debug', () => {
    const e: BuildEvent = { type: 'plan', stages: [{ name: 'a', steps: 2 }] };
    expect(plainLines(e, new Map(), false)).toEqual([]);
    expect(plainLines(e, new Map(), true)).toEqual(['plan: a(2)']);
  });
});
