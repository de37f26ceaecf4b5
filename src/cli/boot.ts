/**
 * How bin/slipway.js starts the CLI fast. `npm run build` writes the whole CLI as one
 * esbuild bundle, dist/bundle/cli/slipway-<content hash>.cjs (CommonJS: each module's top
 * level runs only when first imported, so a command initialises only its own code). boot()
 * compiles it with V8's code cache: the bytecode a previous run of the same command
 * produced is read back instead of parsing and compiling the source again, which is most
 * of what a short command (a fully cached build, --help) costs after Node's own start.
 *
 * The cache lives in $XDG_CACHE_HOME/slipway/code (default ~/.cache), one file per bundle,
 * Node version, architecture and command, written once (at the exit of the first run of
 * that command with that bundle, when V8 has compiled what the command needs) and read only
 * when this uid owns it and nobody else may write it: V8 runs what it finds there. A new
 * bundle has a new content hash, hence new names; caches of other bundles are deleted once
 * they are a day old. Without a usable cache dir the bundle is simply compiled. `--debug` loads the bundle with require() instead, so
 * stack traces go through its source map to src/*.ts lines.
 *
 * In a source checkout (src/ beside dist/), when tsc rebuilt dist/ after the bundle (a
 * `tsc -p tsconfig.build.json` without `npm run build`), the bundle is stale and the plain
 * modules (dist/cli/main.js) run instead. An installed package has no src/ and always runs
 * the bundle (npm gives extracted files arbitrary mtimes).
 */
import { isAscii } from 'node:buffer';
import { readdirSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import vm from 'node:vm';
import { makeDirs, readTrusted, slipwayCacheDir } from '../startup.js';
import type { MainIO } from './main.js';

type MainFn = (argv: string[], io: MainIO) => Promise<number>;
interface BundleExports {
  main: MainFn;
  COMMANDS: readonly { name: string }[];
}

const BUNDLE_NAME = /^slipway-[A-Za-z0-9]+\.cjs$/;

/** The bundle in `dir` (the newest, should leftovers of older builds lie beside it). */
export function findBundle(dir: string): string | undefined {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => BUNDLE_NAME.test(n));
  } catch {
    return undefined;
  }
  if (names.length <= 1) return names[0] === undefined ? undefined : join(dir, names[0]);
  return names.map((n) => join(dir, n)).sort((a, b) => mtime(b) - mtime(a))[0];
}

function mtime(path: string): number {
  return statSync(path, { throwIfNoEntry: false })?.mtimeMs ?? -1;
}

/** $XDG_CACHE_HOME/slipway/code, else ~/.cache/slipway/code; undefined without either (absolute) variable. */
export function codeCacheDir(env: NodeJS.ProcessEnv): string | undefined {
  const base = slipwayCacheDir(env);
  return base === undefined ? undefined : join(base, 'code');
}

/**
 * What a run of `argv` is cached as: its command, or "main" (help, version, errors before a
 * command). A non-root `build` outside slipway's user namespace mostly re-executes itself
 * in one and only waits: its own, small, cache is "build-outer".
 */
export function cacheCommand(argv: readonly string[], env: NodeJS.ProcessEnv = {}, uid = process.getuid?.() ?? 0): string {
  const first = argv[0] ?? '';
  if (first === 'build' && uid !== 0 && !env._SLIPWAY_USERNS) return 'build-outer';
  return /^[a-z][a-z-]{0,30}$/.test(first) && first !== 'help' && first !== 'version' ? first : 'main';
}

/** The cache file name for `command` with `bundle` on this Node. */
export function codeCacheName(bundle: string, command: string): string {
  return `${basename(bundle, '.cjs')}-${process.version}-${process.arch}-${command}.v8`;
}

/** Caches of other bundles (older builds, other installs) are deleted once this old. */
export const STALE_CACHE_MS = 24 * 3600 * 1000;

/**
 * Writes `data` as `dir/name` (private, atomically), and deletes the caches of bundles
 * other than `bundle` that are older than STALE_CACHE_MS (another install may still use a
 * younger one). Best effort.
 */
export function writeCodeCache(dir: string, name: string, data: Buffer, bundle: string, now = Date.now()): void {
  try {
    makeDirs(dir, 0o700);
    const tmp = join(dir, `.${name}.${process.pid}.tmp`);
    writeFileSync(tmp, data, { mode: 0o600 });
    renameSync(tmp, join(dir, name));
  } catch {
    return; // no cache: the next run compiles again
  }
  const mine = `${basename(bundle, '.cjs')}-`;
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    /* nothing to prune */
  }
  for (const n of names) {
    if (n.startsWith(mine) || !(n.endsWith('.v8') || n.endsWith('.tmp'))) continue;
    try {
      if (now - statSync(join(dir, n)).mtimeMs > STALE_CACHE_MS) unlinkSync(join(dir, n));
    } catch {
      /* gone already */
    }
  }
}

/** Compiles and runs the CommonJS bundle as Node would, with `cachedData` when given; returns its exports and the script. */
export function runBundle(file: string, cachedData: Buffer | undefined): { exports: BundleExports; script: vm.Script } {
  // the bundle is ASCII (esbuild escapes the rest): read as latin1 it becomes a one-byte string
  // with a plain copy, ~2 ms sooner than UTF-8 decoding (which also makes a two-byte string of
  // a file with any character beyond latin1 in it)
  const bytes = readFileSync(file);
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    ...(cachedData ? { cachedData } : {}),
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  const mod = { exports: {} as BundleExports };
  (script.runInThisContext() as (...args: unknown[]) => void).call(mod.exports, mod.exports, createRequire(file), mod, file, dirname(file));
  return { exports: mod.exports, script };
}

export interface BootOptions {
  /** The build output holding cli/main.js and bundle/cli/ (default: the one this module is part of). */
  dist?: string;
  /** Runs `fn` when the process exits (default: process.once('exit')); tests run it themselves. */
  atExit?: (fn: () => void) => void;
  /** Keep V8's optimizing re-compile of WebAssembly (default: baseline only, see boot()). */
  wasmTierUp?: boolean;
}

/**
 * Commands whose work is moving bytes through native code (hashing, llhttp's WebAssembly,
 * syscalls): their JavaScript is glue, run a few thousand times per image.
 */
const TRANSFER_COMMANDS: ReadonlySet<string> = new Set(['pull', 'push']);

/**
 * V8 flags of a CLI process running `command` (a cacheCommand() name), set before the bundle
 * compiles: V8 rejects a code cache made under other flags, and every process of one command
 * sets the same, so each command's cache stays valid.
 * - `--liftoff-only`, every command: undici parses HTTP with llhttp compiled to WebAssembly; by
 *   default V8 also re-compiles it with TurboFan on a background thread, and a short command's
 *   exit waits for that (~40 ms of a ~150 ms small pull here). The baseline (Liftoff) code is
 *   fast enough for header parsing: body bytes are not parsed.
 * - `--interrupt-budget=8388608` (64 times the default), pull and push: functions are optimized
 *   by TurboFan much later. A pull's glue code is hot for a fraction of a second, and compiling
 *   it competed for the cores with the hashing and the registry: 200 MB pull on 2 cores 0.41 ->
 *   0.38 s median, 0.53 -> 0.50 s CPU. Not for builds, whose JavaScript is the work itself (a
 *   50,000-file COPY took 25% longer with it).
 * The CLI process only; the library leaves V8 alone.
 */
export function cliV8Flags(command: string): string[] {
  return TRANSFER_COMMANDS.has(command) ? ['--liftoff-only', '--interrupt-budget=8388608'] : ['--liftoff-only'];
}

/** Sets cliV8Flags(command) (see there). */
export function applyCliV8Flags(command = 'main'): void {
  for (const f of cliV8Flags(command)) setFlagsFromString(f);
}

/** Runs the CLI (see the top of this file); returns the exit code. */
export async function boot(argv: string[], io: MainIO, opts: BootOptions = {}): Promise<number> {
  const command = cacheCommand(argv, io.env);
  if (opts.wasmTierUp !== true) applyCliV8Flags(command);
  const dist = opts.dist ?? join(dirname(fileURLToPath(import.meta.url)), '..');
  const bundle = findBundle(join(dist, 'bundle', 'cli'));
  const plain = join(dist, 'cli', 'main.js');
  const checkout = mtime(join(dist, '..', 'src', 'cli', 'boot.ts')) >= 0;
  if (bundle === undefined || (checkout && mtime(bundle) < mtime(plain))) {
    if (argv.includes('--debug')) process.setSourceMapsEnabled(true);
    const { main } = (await import(pathToFileURL(plain).href)) as { main: MainFn };
    return main(argv, io);
  }
  if (argv.includes('--debug')) {
    process.setSourceMapsEnabled(true);
    const { main } = createRequire(bundle)(bundle) as { main: MainFn };
    return main(argv, io);
  }
  const dir = codeCacheDir(io.env);
  const name = codeCacheName(bundle, command);
  const cached = dir === undefined ? undefined : readTrusted(join(dir, name));
  const { exports, script } = runBundle(bundle, cached);
  // written once per command and bundle (a mistyped command gets none), at exit: after the
  // run compiled what it needs, and also when the run ends in process.exit (the re-exec)
  const known = command === 'main' || command === 'build-outer' || exports.COMMANDS.some((c) => c.name === command);
  if (dir !== undefined && known && (cached === undefined || script.cachedDataRejected === true)) {
    (opts.atExit ?? ((fn) => process.once('exit', fn)))(() => writeCodeCache(dir, name, script.createCachedData(), bundle));
  }
  return exports.main(argv, io);
}
