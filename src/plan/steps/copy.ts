import { LocationError, ShellLexer, type AddInstruction, type CopyInstruction } from '../../dockerfile/index.js';
import { hashValue } from '../cache-key.js';
import type { CacheKeyPart, CopySource, CopyStep } from '../types.js';
import { commonParts, finish, type StepContext } from './context.js';

const GIT = /^(git@|git:\/\/)|^https?:\/\/\S+\.git(#.*)?$/;
const URL_RE = /^https?:\/\//;
const OCTAL = /^[0-7]{1,4}$/;
const SYMBOLIC = /^[ugoa]*[-+=][rwxXst]*(?:[-+=][rwxXst]*)*(?:,[ugoa]*[-+=][rwxXst]*(?:[-+=][rwxXst]*)*)*$/;
const CHECKSUM = /^(sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/;
const RAW_LEXER = new ShellLexer('\\', { skipProcessQuotes: true });

export function copyStep(ctx: StepContext, ins: CopyInstruction | AddInstruction): CopyStep {
  const st = ctx.state;
  const KW = ins.kind.toUpperCase();
  const from = ins.kind === 'copy' && ins.from !== undefined ? ctx.stageRef(ins.from, 'COPY --from') : undefined;
  const sources: CopySource[] = [];
  for (const raw of ins.sources) {
    const s = ctx.word(raw);
    if (ins.kind === 'add' && from === undefined && GIT.test(s)) sources.push({ kind: 'git', url: s });
    else if (from === undefined && URL_RE.test(s)) {
      if (ins.kind === 'copy') throw new LocationError(ctx.location, `source can't be a URL for COPY: ${s}`, 'use ADD for remote files, or download them in a RUN step');
      sources.push({ kind: 'url', url: s });
    } else sources.push({ kind: 'path', path: s });
  }
  for (const h of ins.inline) {
    const data = h.expand ? RAW_LEXER.process(h.data, ctx.state.lexEnv()) : undefined;
    if (data) for (const k of data.used) ctx.used.set(k, ctx.state.lexEnv().get(k) ?? '');
    sources.push({ kind: 'inline', path: h.path, data: data ? data.value : h.data });
  }
  const dest = ctx.word(ins.dest);
  const chown = ins.chown !== undefined ? ctx.word(ins.chown) : undefined;
  const chmod = ins.chmod !== undefined ? ctx.word(ins.chmod) : undefined;
  if (chmod !== undefined && !OCTAL.test(chmod) && !SYMBOLIC.test(chmod)) {
    throw new LocationError(ctx.location, `invalid chmod parameter "${chmod}"`, 'use octal (0755) or symbolic (u+x,g-w) permissions');
  }
  const exclude = ins.exclude.map((e) => ctx.word(e));
  let checksum: string | undefined;
  if (ins.kind === 'add' && ins.checksum !== undefined) {
    checksum = ctx.word(ins.checksum);
    if (!CHECKSUM.test(checksum)) throw new LocationError(ctx.location, `invalid checksum "${checksum}"`, 'use --checksum=sha256:<64 hex digits>');
    if (sources.some((s) => s.kind === 'path')) throw new LocationError(ctx.location, 'checksum requires HTTP(S) or Git sources', 'use --checksum only with URL or git sources');
  }
  const paths = sources.flatMap((s) => (s.kind === 'path' ? [s.path] : []));
  const extra: CacheKeyPart[] = [];
  if (from && 'stage' in from) extra.push(ctx.stagePart('from', from.stage));
  else if (from) extra.push({ name: 'from', value: `image:${from.image}` });
  else if (paths.length > 0) {
    extra.push({ name: 'sources', value: `context:${paths.join(' ')}`, pending: true, context: { sources: paths, exclude, parents: ins.kind === 'copy' && ins.parents } });
  }
  for (const s of sources) {
    if (s.kind === 'url' || s.kind === 'git') extra.push({ name: s.kind, value: s.url });
    if (s.kind === 'inline') extra.push({ name: 'inline', value: `${s.path} ${hashValue(s.data)}` });
  }
  if (st.workdir !== undefined) extra.push({ name: 'workdir', value: st.workdir });
  const flags = [
    from ? `--from=${'stage' in from ? from.stage : from.image}` : '',
    chown !== undefined ? `--chown=${chown}` : '',
    chmod !== undefined ? `--chmod=${chmod}` : '',
    ins.link ? '--link' : '',
    ins.kind === 'copy' && ins.parents ? '--parents' : '',
    ...exclude.map((e) => `--exclude=${e}`),
    checksum !== undefined ? `--checksum=${checksum}` : '',
  ].filter((x) => x !== '');
  const shownSources = sources.map((s) => (s.kind === 'path' ? s.path : s.kind === 'inline' ? `<<${s.path}` : s.url));
  const instruction = [KW, ...flags, ...shownSources, dest].join(' ');
  return {
    kind: ins.kind, sources, dest, link: ins.link, parents: ins.kind === 'copy' ? ins.parents : false, exclude,
    ...(from ? { from } : {}),
    ...(st.workdir !== undefined ? { workdir: st.workdir } : {}),
    ...(chown !== undefined ? { chown } : {}),
    ...(chmod !== undefined ? { chmod } : {}),
    ...(checksum !== undefined ? { checksum } : {}),
    ...(ins.kind === 'add' && ins.keepGitDir !== undefined ? { keepGitDir: ins.keepGitDir } : {}),
    ...(ins.kind === 'add' && ins.unpack !== undefined ? { unpack: ins.unpack } : {}),
    location: ctx.location,
    instruction,
    createdBy: [KW, ...(ins.kind === 'copy' && ins.parents ? ['--parents'] : []), ...(chown !== undefined ? [`--chown=${chown}`] : []), ...(chmod !== undefined ? [`--chmod=${chmod}`] : []), ...shownSources, dest].join(' ') + ' # buildkit',
    layer: true,
    ...(ctx.onbuild ? { onbuild: true } : {}),
    cache: finish(commonParts(ctx, extra)),
  };
}
