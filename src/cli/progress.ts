import type { Ora } from 'ora';
import type { BuildEvent, ProgressMode } from '../index.js';

/**
 * Draws build events. TTY: one ora spinner listing the running steps with
 * elapsed time and each step's last output line; finished steps are printed
 * above it. Plain (CI=true, no TTY, --progress plain): timestamped, prefixed
 * lines that GitLab/Jenkins logs show well. Quiet: nothing but errors.
 */
export interface ProgressView {
  event(e: BuildEvent): void;
  finish(): void;
  fail(): void;
}

export interface ProgressOptions {
  mode: ProgressMode;
  stream: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  debug: boolean;
}

export function resolveProgressMode(mode: ProgressMode, isTTY: boolean, env: NodeJS.ProcessEnv): 'tty' | 'plain' | 'quiet' {
  if (mode === 'quiet') return 'quiet';
  if (mode === 'plain') return 'plain';
  if (mode === 'tty') return 'tty';
  return isTTY && env.CI !== 'true' && env.TERM !== 'dumb' ? 'tty' : 'plain';
}

function elapsed(ms: number): string {
  return ms < 1000 ? `${ms}ms` : `${(ms / 1000).toFixed(1)}s`;
}

function stamp(d = new Date()): string {
  return d.toISOString().slice(11, 23);
}

interface Running {
  label: string;
  started: number;
  last?: string;
}

/** Turns one event into the plain-mode line(s) (exported for tests). */
export function plainLines(e: BuildEvent, labels: Map<string, string>, debug: boolean): string[] {
  switch (e.type) {
    case 'mode':
      return [`slipway: ${e.line}; isolation=${e.isolation} rootless=${e.rootless} storage-driver=${e.storageDriver} root=${e.root}`];
    case 'plan':
      return debug ? [`plan: ${e.stages.map((s) => `${s.name}(${s.steps})`).join(' ')}`] : [];
    case 'pull':
      return [`[base] ${e.status === 'start' ? 'pulling' : e.status === 'cached' ? 'using stored' : 'pulled'} ${e.ref}${e.digest ? ` ${e.digest}` : ''}`];
    case 'step-start': {
      const label = `[${e.stage} ${e.index}/${e.total}]`;
      labels.set(e.id, label);
      return [`${label} ${e.text}${e.location && debug ? `  (${e.location})` : ''}`];
    }
    case 'step-cached':
      return [`${labels.get(e.id) ?? e.id} CACHED`];
    case 'step-miss': {
      const l = labels.get(e.id) ?? e.id;
      const head = `${l} cache miss: ${e.miss.reason}${e.miss.part ? ` (${e.miss.part} changed)` : ''}`;
      // --debug: the readable key parts (build-arg values are digests; secrets are never parts)
      return debug ? [head, ...e.parts.map((p) => `${l}   key ${p.name}: ${p.value.length > 160 ? `${p.value.slice(0, 160)}…` : p.value}`)] : [head];
    }
    case 'step-output':
      return [`${labels.get(e.id) ?? e.id} ${e.line}`];
    case 'step-done':
      return e.cached ? [] : [`${labels.get(e.id) ?? e.id} done in ${elapsed(e.ms)}${e.layer ? ` ${e.layer.slice(0, 19)}` : ''}`];
    case 'warning':
      return [`WARNING: ${e.message}`];
    case 'output':
      return [`exported ${e.output} in ${elapsed(e.ms)}`];
    case 'done':
      return [`image ${e.digest} (config ${e.configDigest}) -> ${e.outputs.join(', ')} in ${elapsed(e.ms)}`];
  }
}

export function createProgress(opts: ProgressOptions): ProgressView {
  // a terminal of 0 columns (a pty nobody sized, e.g. under `script` or `docker run -t`) cannot be drawn on: ora would loop clearing lines forever
  const drawable = opts.stream.isTTY === true && (opts.stream as { columns?: number }).columns !== 0;
  const mode = resolveProgressMode(opts.mode, drawable, opts.env);
  const labels = new Map<string, string>();
  if (mode === 'quiet') {
    return {
      event(e) {
        if (e.type === 'warning') opts.stream.write(`WARNING: ${e.message}\n`);
      },
      finish() {},
      fail() {},
    };
  }
  if (mode === 'plain') {
    return {
      event(e) {
        // in plain mode the miss reasons are part of the log only with --debug or an explicit --progress plain
        if (e.type === 'step-miss' && !opts.debug && opts.mode !== 'plain') return;
        for (const l of plainLines(e, labels, opts.debug)) opts.stream.write(`${stamp()} ${l}\n`);
      },
      finish() {},
      fail() {},
    };
  }
  const running = new Map<string, Running>();
  let spinner: Ora | undefined;
  let loading: Promise<unknown> | undefined;
  let timer: NodeJS.Timeout | undefined;
  const text = (): string => {
    const now = Date.now();
    return [...running.values()]
      .map((r) => `${r.label} ${elapsed(now - r.started)}${r.last ? `\n    ${r.last.slice(0, 120)}` : ''}`)
      .join('\n');
  };
  const above = (line: string): void => {
    if (spinner?.isSpinning) {
      spinner.clear();
      opts.stream.write(line + '\n');
      spinner.render();
    } else opts.stream.write(line + '\n');
  };
  let finished = false;
  const refresh = (): void => {
    if (finished) return;
    if (running.size === 0) {
      spinner?.stop();
      return;
    }
    if (!spinner) {
      // ora loads only when a terminal is drawn on
      if (!loading) loading = import('ora').then((m) => (spinner = m.default({ stream: opts.stream as NodeJS.WriteStream, isEnabled: true, discardStdin: false })));
      void loading.then(() => refresh());
      return;
    }
    spinner.text = text();
    if (!spinner.isSpinning) spinner.start();
  };
  return {
    event(e) {
      switch (e.type) {
        case 'step-start':
          labels.set(e.id, `[${e.stage} ${e.index}/${e.total}] ${e.text}`);
          running.set(e.id, { label: labels.get(e.id) as string, started: Date.now() });
          timer ??= setInterval(refresh, 200).unref();
          refresh();
          return;
        case 'step-output': {
          const r = running.get(e.id);
          if (r) r.last = e.line;
          return;
        }
        case 'step-done': {
          running.delete(e.id);
          above(`${e.cached ? '=' : '✔'} ${labels.get(e.id) ?? e.id} ${e.cached ? 'CACHED' : elapsed(e.ms)}`);
          refresh();
          return;
        }
        case 'step-cached':
          return;
        case 'step-miss':
          if (opts.debug) above(plainLines(e, labels, true).join('\n'));
          return;
        default:
          for (const l of plainLines(e, labels, opts.debug)) above(l);
      }
    },
    finish() {
      finished = true;
      if (timer) clearInterval(timer);
      spinner?.stop();
    },
    fail() {
      finished = true;
      if (timer) clearInterval(timer);
      if (spinner?.isSpinning) spinner.fail(text());
    },
  };
}
