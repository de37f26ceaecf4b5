import { posix } from 'node:path';
import { LocationError, parseMountSpec, type RunInstruction } from '../../dockerfile/index.js';
import { parseHeredocMarker } from '../../dockerfile/words.js';
import { hashValue } from '../cache-key.js';
import type { CacheKeyPart, RunMount, RunStep } from '../types.js';
import { commonParts, finish, type StepContext } from './context.js';

const hint = (raw: string): string => `fix --mount=${raw}; see "RUN --mount" in the Dockerfile reference for the keys of each mount type`;

function mountOf(ctx: StepContext, raw: string, sshIndex: number): RunMount {
  let spec;
  try {
    spec = parseMountSpec(raw, (w) => ctx.word(w));
  } catch (e) {
    if (e instanceof LocationError) throw e;
    throw new LocationError(ctx.location, (e as Error).message, hint(raw));
  }
  const m: RunMount = { type: spec.type, readonly: spec.readonly };
  if (spec.from !== undefined && spec.from !== '') m.from = ctx.stageRef(spec.from, '--mount from');
  if (spec.source !== undefined) m.source = spec.source;
  if (spec.target !== undefined) m.target = spec.target;
  for (const k of ['sharing', 'required', 'size', 'mode', 'uid', 'gid', 'env'] as const) {
    if (spec[k] !== undefined) (m as unknown as Record<string, unknown>)[k] = spec[k];
  }
  switch (spec.type) {
    case 'secret': {
      const id = spec.id ?? spec.source ?? (spec.target !== undefined ? posix.basename(spec.target) : undefined);
      if (id === undefined) throw new LocationError(ctx.location, 'invalid secret mount. one of source, target required', hint(raw));
      m.id = id;
      delete m.source;
      if (m.target === undefined && spec.env === undefined) m.target = `/run/secrets/${posix.basename(id)}`;
      break;
    }
    case 'ssh':
      m.id = spec.id ?? 'default';
      if (m.target === undefined) m.target = `/run/buildkit/ssh_agent.${sshIndex}`;
      break;
    case 'cache':
      if (m.target === undefined) throw new LocationError(ctx.location, 'mount target is required', hint(raw));
      m.id = spec.id ?? posix.normalize(m.target);
      m.sharing = spec.sharing ?? 'shared';
      break;
    default:
      if (m.target === undefined) throw new LocationError(ctx.location, 'mount target is required', hint(raw));
      if (spec.id !== undefined) m.id = spec.id;
  }
  if (m.target !== undefined && m.type !== 'secret' && m.type !== 'ssh') {
    // BuildKit: relative targets are relative to the working directory; `/` cannot be a mount target.
    const target = posix.isAbsolute(m.target) ? posix.normalize(m.target) : posix.join('/', ctx.state.workdir ?? '/', m.target);
    if (target === '/') throw new LocationError(ctx.location, `invalid mount target "${m.target}"`, hint(raw));
    m.target = target.length > 1 && target.endsWith('/') ? target.slice(0, -1) : target;
  }
  return m;
}

/** Cache part of one mount: what it brings into the command. Secrets and SSH contribute only id and target. */
function mountParts(ctx: StepContext, m: RunMount, i: number): CacheKeyPart[] {
  const name = `mount${i}`;
  const desc = `${m.type} target=${m.target ?? ''}${m.id !== undefined ? ` id=${m.id}` : ''}${m.source !== undefined ? ` source=${m.source}` : ''}${m.readonly ? ' ro' : ''}`;
  const parts: CacheKeyPart[] = [{ name, value: desc }];
  if (m.type !== 'bind') return parts;
  if (m.from && 'stage' in m.from) parts.push(ctx.stagePart(`${name}.from`, m.from.stage));
  else if (m.from && 'image' in m.from) parts.push({ name: `${name}.from`, value: `image:${m.from.image}` });
  else parts.push({ name: `${name}.content`, value: `context:${m.source ?? '.'}`, pending: true, context: { sources: [m.source ?? '.'], exclude: [], parents: false } });
  return parts;
}

export function runStep(ctx: StepContext, ins: RunInstruction): RunStep {
  const st = ctx.state;
  let ssh = 0;
  const mounts = ins.mounts.map((raw) => {
    const m = mountOf(ctx, raw, ssh);
    if (m.type === 'ssh') ssh++;
    return m;
  });
  const { form } = ins.command;
  let args = ins.command.args;
  const inlineFiles: RunStep['inlineFiles'] = [];
  if (ins.heredocs.length > 0 && form === 'shell') {
    const first = ins.heredocs[0] as (typeof ins.heredocs)[number];
    if (parseHeredocMarker(args[0] ?? '')) {
      if (first.content.startsWith('#!')) {
        const path = `/dev/pipes/${first.name}`;
        inlineFiles.push({ path, data: first.content, mode: 0o755 });
        args = [path];
      } else args = [first.content];
    } else {
      args = [(args[0] ?? '') + ins.heredocs.map((h) => `\n${h.content}${h.name}`).join('')];
    }
  }
  const argv = form === 'shell' ? [...(st.shell ?? ['/bin/sh', '-c']), ...args] : args;
  const lookup = st.lexEnv();
  const declared = st.declared.map((k) => `${k}=${lookup.get(k) ?? ''}`);
  const createdBy = `RUN ${declared.length > 0 ? `|${declared.length} ${declared.join(' ')} ` : ''}${argv.join(' ')} # buildkit`;
  const visibleArgs = st.argList();
  const extra: CacheKeyPart[] = [];
  if (visibleArgs.length > 0) {
    extra.push({ name: 'args', value: visibleArgs.map((kv) => { const i = kv.indexOf('='); return `${kv.slice(0, i)}=${hashValue(kv.slice(i + 1))}`; }).join(' ') });
  }
  if (st.shell) extra.push({ name: 'shell', value: JSON.stringify(st.shell) });
  if (st.workdir !== undefined) extra.push({ name: 'workdir', value: st.workdir });
  if (st.user !== undefined) extra.push({ name: 'user', value: st.user });
  if (ins.heredocs.length > 0) extra.push({ name: 'heredocs', value: hashValue(ins.heredocs.map((h) => `${h.name}\n${h.content}`).join('\n')) });
  mounts.forEach((m, i) => extra.push(...mountParts(ctx, m, i)));
  return {
    kind: 'run', form, args, heredocs: ins.heredocs, inlineFiles, mounts,
    network: ins.network ?? 'default', security: ins.security ?? 'sandbox',
    ...(st.shell ? { shell: [...st.shell] } : {}),
    ...(st.workdir !== undefined ? { workdir: st.workdir } : {}),
    ...(st.user !== undefined ? { user: st.user } : {}),
    env: { env: st.envList(), args: visibleArgs, proxy: ctx.proxy },
    location: ctx.location,
    instruction: ins.source,
    createdBy,
    layer: true,
    ...(ctx.onbuild ? { onbuild: true } : {}),
    cache: finish(commonParts(ctx, extra)),
  };
}
