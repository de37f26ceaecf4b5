import type { ContainerConfig, HealthConfig, ImageConfig } from '../oci/index.js';
import type { ConfigChange } from '../plan/types.js';
import { goList, goQuoteList, healthcheckCreatedBy, withHistory } from './history.js';

/**
 * Metadata-only instructions are the planner's `ConfigChange`s (already
 * expanded). Each changes the image config and appends an `empty_layer`
 * history entry, as BuildKit does. MAINTAINER and WORKDIR are extra kinds here.
 */
export type MetadataInstruction =
  | ConfigChange
  | { op: 'maintainer'; name: string }
  | { op: 'workdir'; path: string };

/** Per-stage state the config rules need beyond the config itself. */
export interface MetadataState {
  /** True once this stage set CMD (ENTRYPOINT then keeps it). */
  cmdSet: boolean;
}

export const DEFAULT_SHELL = ['/bin/sh', '-c'];

function cc(config: ImageConfig): ContainerConfig {
  return { ...(config.config ?? {}) };
}

/** ENV K=V: replaces an existing K in place, else appends (docker's addEnv). */
export function addEnv(env: readonly string[] | undefined, k: string, v: string): string[] {
  const out = [...(env ?? [])];
  const i = out.findIndex((e) => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e) === k);
  if (i >= 0) out[i] = `${k}=${v}`;
  else out.push(`${k}=${v}`);
  return out;
}

/** WORKDIR: relative paths resolve against the current one; result is clean and absolute. */
export function resolveWorkdir(current: string | undefined, p: string): string {
  const base = p.startsWith('/') ? '' : current || '/';
  const parts: string[] = [];
  for (const seg of `${base}/${p}`.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') parts.pop();
    else parts.push(seg);
  }
  return '/' + parts.join('/');
}

/** Shell form: SHELL of the image (default /bin/sh -c) plus the command text as one argument. */
export function withShell(config: ImageConfig, args: readonly string[]): string[] {
  const shell = config.config?.Shell && config.config.Shell.length > 0 ? config.config.Shell : DEFAULT_SHELL;
  return [...shell, args.join(' ')];
}

/**
 * Applies one metadata instruction. WORKDIR returns `layer: true` when it must
 * create the directory (BuildKit records it with a layer unless it is `/`).
 */
export function applyMetadata(
  config: ImageConfig,
  ins: MetadataInstruction,
  state: MetadataState,
  created?: string,
): { config: ImageConfig; layer: boolean } {
  const c = cc(config);
  let by: string | undefined;
  let layer = false;
  let next: ImageConfig = config;
  switch (ins.op) {
    case 'env': {
      let env = c.Env;
      for (const [k, v] of ins.pairs) env = addEnv(env, k, v);
      c.Env = env ?? [];
      by = `ENV ${ins.pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
      break;
    }
    case 'label': {
      c.Labels = { ...(c.Labels ?? {}) };
      for (const [k, v] of ins.pairs) c.Labels[k] = v;
      by = `LABEL ${ins.pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
      break;
    }
    case 'arg':
      by = `ARG ${ins.names.join(' ')}`;
      break;
    case 'expose': {
      const ports = expandPorts(ins.ports);
      c.ExposedPorts = { ...(c.ExposedPorts ?? {}) };
      for (const p of ports) c.ExposedPorts[p] = {};
      by = `EXPOSE ${goList(ports)}`;
      break;
    }
    case 'user':
      c.User = ins.user;
      by = `USER ${ins.user}`;
      break;
    case 'volume':
      c.Volumes = { ...(c.Volumes ?? {}) };
      for (const v of ins.paths) c.Volumes[v] = {};
      by = `VOLUME ${goList(ins.paths)}`;
      break;
    case 'stopsignal':
      c.StopSignal = ins.signal;
      by = `STOPSIGNAL ${ins.signal}`;
      break;
    case 'healthcheck': {
      const full: HealthConfig = {
        Test: ins.test,
        Interval: ins.interval ?? 0,
        Timeout: ins.timeout ?? 0,
        StartPeriod: ins.startPeriod ?? 0,
        StartInterval: ins.startInterval ?? 0,
        Retries: ins.retries ?? 0,
      };
      c.Healthcheck = stripZero(full);
      by = healthcheckCreatedBy(full);
      break;
    }
    case 'shell':
      c.Shell = [...ins.shell];
      by = `SHELL ${goList(ins.shell)}`;
      break;
    case 'cmd': {
      const args = ins.form === 'shell' ? withShell(config, ins.args) : [...ins.args];
      c.Cmd = args;
      c.ArgsEscaped = true;
      state.cmdSet = true;
      by = `CMD ${goQuoteList(args)}`;
      break;
    }
    case 'entrypoint': {
      const args = ins.form === 'shell' ? withShell(config, ins.args) : [...ins.args];
      c.Entrypoint = args;
      if (!state.cmdSet) c.Cmd = null;
      by = `ENTRYPOINT ${goQuoteList(args)}`;
      break;
    }
    case 'onbuild':
      c.OnBuild = [...(c.OnBuild ?? []), ins.expression];
      break;
    case 'maintainer':
      next = { ...next, author: ins.name };
      by = `MAINTAINER ${ins.name}`;
      break;
    case 'workdir': {
      const wd = resolveWorkdir(c.WorkingDir, ins.path);
      c.WorkingDir = wd;
      layer = wd !== '/';
      by = `WORKDIR ${wd}`;
      break;
    }
  }
  next = { ...next, config: c };
  if (by !== undefined) next = withHistory(next, by, !layer, created);
  return { config: next, layer };
}

function stripZero(h: HealthConfig): HealthConfig {
  const out: HealthConfig = { Test: h.Test ?? [] };
  if (h.Interval) out.Interval = h.Interval;
  if (h.Timeout) out.Timeout = h.Timeout;
  if (h.StartPeriod) out.StartPeriod = h.StartPeriod;
  if (h.StartInterval) out.StartInterval = h.StartInterval;
  if (h.Retries) out.Retries = h.Retries;
  return out;
}

/** `EXPOSE 8000-8002` -> three ports, as docker does. */
export function expandPorts(specs: readonly string[]): string[] {
  const out: string[] = [];
  for (const s of specs) {
    const [port = '', proto = 'tcp'] = s.split('/');
    const last = port.includes(':') ? port.slice(port.lastIndexOf(':') + 1) : port;
    const range = /^(\d+)-(\d+)$/.exec(last);
    if (range) {
      for (let i = Number(range[1]); i <= Number(range[2]); i++) out.push(`${i}/${proto.toLowerCase()}`);
    } else out.push(`${last}/${proto.toLowerCase()}`);
  }
  return out;
}

/**
 * The config a new stage starts from: the base image's, with ONBUILD triggers
 * dropped (they run now, not in images built on this one), as BuildKit does.
 */
export function stageStartConfig(base: ImageConfig): ImageConfig {
  const c = { ...(base.config ?? {}) };
  delete c.OnBuild;
  return { ...base, config: c, history: [...(base.history ?? [])] };
}

/** `--label` from the command line, applied to the final image only (no history, as buildx). */
export function withCliLabels(config: ImageConfig, labels: Record<string, string>): ImageConfig {
  if (Object.keys(labels).length === 0) return config;
  return { ...config, config: { ...(config.config ?? {}), Labels: { ...(config.config?.Labels ?? {}), ...labels } } };
}
