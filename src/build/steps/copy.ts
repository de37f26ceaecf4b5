import { createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { mkdtemp, open, rm, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { SlipwayError, errorMessage } from '../../oci/index.js';
import type { CopyStep } from '../../plan/types.js';
import type { Image } from '../../image/index.js';
import type { ExecContext, StageState } from '../context.js';
import { locationOf } from '../context.js';
import { resolveCopy, type CopyRequest, type SourceRoot } from '../copy/resolve.js';
import { parseChmod } from '../copy/chmod.js';
import { resolveChown } from '../copy/chown.js';
import { sortEntries, type LayerEntry } from '../copy/entries.js';
import { commitEntries } from '../layer-commit.js';
import { RootfsView } from '../../runtime/index.js';
import { hasWildcard, resolveInRoot } from '../../context/index.js';
import { copyCreatedBy } from '../history.js';

const run = promisify(execFile);

export class AddSourceError extends SlipwayError {
  constructor(message: string, hint: string, cause?: unknown) {
    super('ADD_SOURCE', message, { hint, cause });
  }
}

/** First bytes of a file: is it a tar archive ADD unpacks (plain, gzip, bzip2, xz)? */
async function isArchive(path: string): Promise<boolean> {
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(512);
    const { bytesRead } = await fh.read(b, 0, 512, 0);
    if (bytesRead >= 2 && b[0] === 0x1f && b[1] === 0x8b) return true;
    if (bytesRead >= 3 && b.subarray(0, 3).toString('latin1') === 'BZh') return true;
    if (bytesRead >= 6 && b.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return true;
    return bytesRead >= 262 && b.subarray(257, 262).toString('latin1') === 'ustar';
  } finally {
    await fh.close();
  }
}

async function download(ctx: ExecContext, url: string, dir: string, checksum: string | undefined, where: string): Promise<{ name: string; entry: Omit<LayerEntry, 'path'> }> {
  const name = posix.basename(new URL(url).pathname) || 'index.html';
  const file = join(dir, `download-${name}`);
  let res;
  try {
    // the whole undici package (fetch) only for ADD of a URL: loaded at run time, kept out of the CLI bundle
    const { fetch } = createRequire(import.meta.url)('undici') as typeof import('undici');
    res = await fetch(url, { redirect: 'follow' });
  } catch (e) {
    throw new AddSourceError(`${where}: ADD ${url}: ${errorMessage(e)}`, 'check the URL and the network', e);
  }
  if (!res.ok || res.body === null) {
    await res.body?.cancel();
    throw new AddSourceError(`${where}: ADD ${url}: server answered ${res.status}`, 'check the URL');
  }
  const hash = createHash('sha256');
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
  body.on('data', (c: Buffer) => hash.update(c));
  await pipeline(body, createWriteStream(file));
  const digest = `sha256:${hash.digest('hex')}`;
  if (checksum !== undefined && checksum !== digest) {
    throw new AddSourceError(`${where}: ADD ${url}: checksum mismatch: expected ${checksum}, got ${digest}`, 'update --checksum or check the source');
  }
  const lm = res.headers.get('last-modified');
  const mtime = lm !== null && !Number.isNaN(Date.parse(lm)) ? Math.floor(Date.parse(lm) / 1000) : ctx.now;
  const st = await stat(file);
  return { name, entry: { type: 'file', mode: 0o600, uid: 0, gid: 0, mtime: ctx.clamp !== undefined ? Math.min(mtime, ctx.clamp) : mtime, size: st.size, source: file } };
}

async function gitClone(url: string, dir: string, keepGitDir: boolean, where: string): Promise<string> {
  const hash = url.indexOf('#');
  const repo = hash < 0 ? url : url.slice(0, hash);
  const frag = hash < 0 ? '' : url.slice(hash + 1);
  const [ref = '', sub = ''] = frag.split(':');
  const dest = join(dir, 'git');
  try {
    const env = { ...process.env, GIT_TERMINAL_PROMPT: '0' };
    const args = ['clone', '--quiet', '--recurse-submodules'];
    const named = ref !== '' && !/^[0-9a-f]{40}$/.test(ref);
    if (named) args.push('--branch', ref);
    // shallow first; servers that cannot (dumb HTTP) get a full clone
    await run('git', [...args, '--depth', '1', '--', repo, dest], { env }).catch(async () => {
      await rm(dest, { recursive: true, force: true });
      await run('git', [...args, '--', repo, dest], { env });
    });
    if (/^[0-9a-f]{40}$/.test(ref)) await run('git', ['-C', dest, 'checkout', '--quiet', ref]);
  } catch (e) {
    throw new AddSourceError(`${where}: ADD ${url}: git clone failed: ${errorMessage(e).split('\n').slice(-2).join(' ')}`, 'check the repository URL, the ref and your git credentials', e);
  }
  if (!keepGitDir) await rm(join(dest, '.git'), { recursive: true, force: true });
  return sub === '' ? dest : join(dest, sub);
}

async function sourceRoot(ctx: ExecContext, step: CopyStep, where: string): Promise<SourceRoot> {
  if (step.from === undefined) return ctx.contextRoot;
  if ('stage' in step.from) {
    const s = ctx.plan.stages.find((x) => x.index === (step.from as { stage: number }).stage);
    return { dir: await ctx.stageRootfs((step.from as { stage: number }).stage), name: `stage ${s?.name ?? (step.from as { stage: number }).stage}`, context: false };
  }
  const img: Image = await ctx.bases.resolve(step.from.image, ctx.platform, where);
  return { dir: await ctx.imageRootfs(img), name: `image ${step.from.image}`, context: false };
}

/**
 * COPY --from where every source is a plain path naming a regular file (the
 * usual "copy the binary out of the builder"): the files are read straight
 * from the unpacked layer dirs, without materializing the whole stage rootfs.
 * Undefined when any source is a pattern, a directory or missing.
 */
async function filesFromLayers(ctx: ExecContext, step: CopyStep, where: string): Promise<NonNullable<CopyRequest['extra']> | undefined> {
  if (step.from === undefined || step.parents) return undefined;
  const paths = step.sources.map((x) => (x.kind === 'path' && !hasWildcard(x.path) ? x.path : undefined));
  if (paths.some((p) => p === undefined)) return undefined;
  const img = 'stage' in step.from ? await ctx.stageImage(step.from.stage) : await ctx.bases.resolve(step.from.image, ctx.platform, where);
  const view = new RootfsView(await ctx.unpack.lowers(img.layers), await ctx.index.opaqueDirs(img.layers));
  const out: NonNullable<CopyRequest['extra']> = [];
  for (const p of paths as string[]) {
    const r = view.resolve(p);
    if (r.host === undefined || r.stat === undefined || !r.stat.isFile()) return undefined;
    let mtime = Math.floor(r.stat.mtimeMs / 1000);
    if (ctx.clamp !== undefined && mtime > ctx.clamp) mtime = ctx.clamp;
    out.push({ name: posix.basename(posix.normalize('/' + p)), entry: { type: 'file', mode: r.stat.mode & 0o7777, uid: r.stat.uid, gid: r.stat.gid, mtime, size: r.stat.size, source: r.host } });
  }
  return out;
}

/** COPY/ADD: sources -> entry list -> one layer (no scan of the result). */
export async function runCopyStep(ctx: ExecContext, st: StageState, step: CopyStep): Promise<void> {
  const where = locationOf(ctx, step);
  const fs = ctx.index.view(st.image.layers);
  const owner = step.chown ? await resolveChown(step.chown, fs, where) : undefined;
  const chmod = step.chmod ? parseChmod(step.chmod, where) : undefined;
  const tmp = await mkdtemp(join(ctx.paths.tmp, `copy-${process.pid}-`));
  try {
    const base: Omit<CopyRequest, 'sources'> = {
      dest: step.dest,
      parents: step.parents,
      exclude: step.exclude,
      now: ctx.now,
      where,
      ...(step.workdir !== undefined ? { workdir: step.workdir } : st.image.config.config?.WorkingDir ? { workdir: st.image.config.config.WorkingDir } : {}),
      ...(owner ? { owner } : {}),
      ...(chmod ? { chmod } : {}),
      ...(ctx.clamp !== undefined ? { clamp: ctx.clamp } : {}),
    };
    const direct = await filesFromLayers(ctx, step, where);
    const root = direct ? { dir: tmp, name: 'layers', context: false } : await sourceRoot(ctx, step, where);
    const paths: string[] = [];
    const extra: NonNullable<CopyRequest['extra']> = [];
    if (direct) extra.push(...direct);
    const subCopies: { root: SourceRoot; sources: string[]; dirDest: boolean }[] = [];
    for (const src of direct ? [] : step.sources) {
      if (src.kind === 'path') {
        const unpack = step.kind === 'add' && step.unpack !== false && !hasWildcard(src.path);
        // symlinks resolve inside the root (a context link to a host archive is never read)
        const host = join(root.dir, await resolveInRoot(root.dir, src.path));
        const isFile = unpack && (await stat(host).then((s) => s.isFile(), () => false));
        if (isFile && (await isArchive(host))) {
          const dir = await mkdtemp(join(tmp, 'untar-'));
          await run('tar', ['-xf', host, '-C', dir, '--no-same-permissions', '--numeric-owner']).catch((e: unknown) => {
            throw new AddSourceError(`${where}: ADD ${src.path}: cannot extract: ${errorMessage(e)}`, 'is the archive complete?', e);
          });
          subCopies.push({ root: { dir, name: `archive ${src.path}`, context: false }, sources: ['.'], dirDest: true });
        } else paths.push(src.path);
      } else if (src.kind === 'inline') {
        extra.push({ name: posix.basename(src.path), entry: { type: 'file', mode: 0o644, uid: 0, gid: 0, mtime: ctx.clamp ?? ctx.now, size: Buffer.byteLength(src.data), data: Buffer.from(src.data) } });
      } else if (src.kind === 'url') {
        extra.push(await download(ctx, src.url, tmp, step.checksum, where));
      } else {
        const dir = await gitClone(src.url, tmp, step.keepGitDir === true, where);
        subCopies.push({ root: { dir, name: `git ${src.url}`, context: false }, sources: ['.'], dirDest: true });
      }
    }
    const lists: LayerEntry[][] = [];
    if (paths.length > 0 || extra.length > 0) {
      const manyDest = paths.length + extra.length + subCopies.length > 1;
      lists.push(await resolveCopy(root, { ...base, dest: manyDest && !base.dest.endsWith('/') ? `${base.dest}/` : base.dest, sources: paths, extra }, fs));
    }
    for (const sc of subCopies) {
      const dest = base.dest.endsWith('/') ? base.dest : `${base.dest}/`;
      // archive and git contents keep the owners they have, unless --chown
      lists.push(await resolveCopy(sc.root, { ...base, dest, sources: sc.sources }, fs));
    }
    // one list is sorted already (resolveCopy); several are merged, the later one winning a path
    const entries = lists.length === 1 ? (lists[0] as LayerEntry[]) : sortEntries([...new Map(lists.flat().map((e) => [e.path, e])).values()]);
    const layer = await commitEntries(ctx, entries);
    const createdBy = copyCreatedBy({
      add: step.kind === 'add',
      parents: step.parents,
      ...(step.chown ? { chown: step.chown } : {}),
      ...(step.chmod ? { chmod: step.chmod } : {}),
      sources: step.sources.flatMap((x) => (x.kind === 'inline' ? [] : [x.kind === 'path' ? x.path : x.url])),
      heredocs: step.sources.flatMap((x) => (x.kind === 'inline' ? [x.path] : [])),
      dest: step.dest,
    });
    const history = { created: ctx.created, created_by: createdBy, comment: 'buildkit.dockerfile.v0' };
    st.image = layer ? st.image.append(layer, history) : st.image.appendEmptyHistory(history);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

