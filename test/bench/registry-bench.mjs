#!/usr/bin/env node
/**
 * Registry benchmark (issue 2): push and pull of a ~200 MB image (3 x 50 MB
 * incompressible layers + 1 layer of 50 MB compressible text, gzip) against a
 * local docker-registry this script starts itself, slipway vs `skopeo copy`.
 *   push: oci:LAYOUT -> docker://127.0.0.1:PORT/REPO (a fresh repository each run)
 *   pull: docker://... -> slipway's local store (fresh --root) / skopeo -> oci:FRESHDIR
 * Every push goes to a registry started for it (nothing to mount or skip); every run gets a fresh HOME.
 * Prints MB/s (compressed bytes moved) per tool and the time ratio slipway/skopeo
 * (<= 1.0: slipway no slower): best of RUNS runs, and the ratio of the medians. Each tool runs
 * each command once untimed first (slipway writes its code cache then), and every timed run
 * starts after a `sync`. Needs dist/ (npm run build).
 *
 *   node test/bench/registry-bench.mjs [--runs N] [--dir DIR] [--keep] [--only push|pull] [--warm]
 * Also prints each tool's best CPU time (user+sys of the child) and the load average, as the
 * machine may be loaded. --warm adds pulls done by slipway's copy() inside this process after
 * one warm-up (no process start, no module loading): the transfer alone.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGzip } from 'node:zlib';
import tarStream from 'tar-stream';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BIN = join(REPO, 'bin/slipway.js');
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const RUNS = Number(opt('--runs', '5'));
const BASE = opt('--dir', `/var/tmp/slipway-registry-bench-${process.pid}`);
const KEEP = args.includes('--keep');
const ONLY = opt('--only', 'all');
const WARM = args.includes('--warm');
const MB = 1 << 20;

function have(tool) {
  return spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
}
for (const t of ['docker-registry', 'skopeo']) {
  if (!have(t)) {
    console.error(`registry-bench: ${t} is not installed; skipping`);
    process.exit(0);
  }
}
if (!existsSync(join(REPO, 'dist/index.js'))) {
  console.error('dist/ is missing: run `npm run build` first');
  process.exit(2);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function startRegistry(dir) {
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const config = join(dir, 'config.yml');
  writeFileSync(config, [
    'version: 0.1', 'log:', '  level: error', '  accesslog:', '    disabled: true',
    'storage:', '  filesystem:', `    rootdirectory: ${join(dir, 'data')}`, '  maintenance:', '    uploadpurging:', '      enabled: false',
    'http:', `  addr: ${host}`, '  secret: bench', '',
  ].join('\n'));
  const log = openSync(join(dir, 'registry.log'), 'a');
  const proc = spawn('docker-registry', ['serve', config], { stdio: ['ignore', log, log] });
  for (let i = 0; i < 200; i++) {
    const r = spawnSync('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', `http://${host}/v2/`], { encoding: 'utf8' });
    if (r.stdout === '200') return { host, proc };
    await new Promise((r2) => setTimeout(r2, 100));
  }
  proc.kill();
  throw new Error('docker-registry did not start');
}

/** Writes a tar+gzip layer of one file to the layout; returns [descriptor, diffID]. */
async function writeLayer(layout, name, size, kind) {
  const tmp = join(layout, 'blobs', 'sha256', `tmp-${name}`);
  const pack = tarStream.pack();
  const gz = createGzip({ level: 1 });
  const digest = createHash('sha256');
  const diff = createHash('sha256');
  let bytes = 0;
  const out = createWriteStream(tmp);
  gz.on('data', (c) => {
    digest.update(c);
    bytes += c.length;
  });
  pack.on('data', (c) => diff.update(c));
  const done = pipeline(pack, gz, out);
  const entry = pack.entry({ name: `bench/${name}`, size, mode: 0o644, mtime: new Date(0) });
  const line = Buffer.from('slipway registry benchmark: compressible text line with some repetition 0123456789\n');
  for (let left = size; left > 0;) {
    const n = Math.min(left, 4 * MB);
    const chunk = kind === 'random' ? randomBytes(n) : Buffer.alloc(n, line);
    if (!entry.write(chunk)) await new Promise((r) => entry.once('drain', r));
    left -= n;
  }
  entry.end();
  pack.finalize();
  await done;
  const d = `sha256:${digest.digest('hex')}`;
  renameSync(tmp, join(layout, 'blobs', 'sha256', d.slice(7)));
  return [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: d, size: bytes }, `sha256:${diff.digest('hex')}`];
}

function writeBlob(layout, data) {
  const d = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  writeFileSync(join(layout, 'blobs', 'sha256', d.slice(7)), data);
  return { digest: d, size: data.length };
}

async function makeImage(layout) {
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layers = [];
  const diffIds = [];
  const specs = [['r1', 60 * MB, 'random'], ['r2', 60 * MB, 'random'], ['r3', 40 * MB, 'random'], ['r4', 30 * MB, 'random'], ['r5', 8 * MB, 'random'], ['text', 60 * MB, 'text']];
  for (const [name, size, kind] of specs) {
    const [desc, diffId] = await writeLayer(layout, name, size, kind);
    layers.push(desc);
    diffIds.push(diffId);
  }
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, config: {} }));
  const configDesc = { mediaType: 'application/vnd.oci.image.config.v1+json', ...writeBlob(layout, config) };
  const manifest = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: configDesc, layers }));
  const manifestDesc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', ...writeBlob(layout, manifest) };
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
    manifests: [{ ...manifestDesc, annotations: { 'org.opencontainers.image.ref.name': 'bench' } }],
  }));
  return layers.reduce((n, l) => n + l.size, configDesc.size + manifestDesc.size);
}

let seq = 0;
function freshEnv() {
  const home = join(BASE, `home-${seq++}`);
  mkdirSync(home, { recursive: true });
  // fresh HOME and config (no credentials, no mount hints), but one cache dir for every run: slipway's
  // V8 code cache lives there, as a compiled binary stays compiled (the first pull of a machine pays
  // ~40-60 ms more; skopeo's blob-info cache is system-wide anyway)
  return { ...process.env, HOME: home, XDG_CACHE_HOME: join(BASE, 'xdg-cache'), XDG_CONFIG_HOME: join(home, '.config'), XDG_DATA_HOME: join(home, '.local/share'), REGISTRY_AUTH_FILE: '', DOCKER_CONFIG: '' };
}

const cpu = {};
function timed(cmd, argv, env, name) {
  // the previous run's written blobs go to disk now, not during this run
  execFileSync('sync');
  const t0 = process.hrtime.bigint();
  // time(1)-like: /usr/bin/time is not everywhere; bash's `times` gives the children's user+sys
  const script = 'set -e; "$@" >/dev/null; times';
  const out = execFileSync('bash', ['-c', script, 'bench', cmd, ...argv], { env, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const lines = out.trim().split('\n');
  const m = /(\d+)m([\d.]+)s\s+(\d+)m([\d.]+)s/.exec(lines[lines.length - 1] ?? '');
  if (m && name) (cpu[name] ??= []).push(Number(m[1]) * 60 + Number(m[2]) + Number(m[3]) * 60 + Number(m[4]));
  return wall;
}

const results = {};
function record(name, seconds) {
  (results[name] ??= []).push(seconds);
}
const best = (name) => Math.min(...results[name]);
const median = (name) => {
  const l = [...results[name]].sort((a, b) => a - b);
  return l.length % 2 === 1 ? l[(l.length - 1) / 2] : (l[l.length / 2 - 1] + l[l.length / 2]) / 2;
};

/** Pulls with copy() in this process: one warm-up, then RUNS timed runs (each into a fresh layout). */
async function warmPulls(host) {
  const { RegistrySession, LayoutStore, copy } = await import(pathToFileURL(join(REPO, 'dist/store/index.js')).href);
  const { parseReference } = await import(pathToFileURL(join(REPO, 'dist/oci/index.js')).href);
  const ref = parseReference(`${host}/bench/source:1`);
  for (let i = -1; i < RUNS; i++) {
    const dir = join(BASE, `warm-${i + 1}`);
    const t0 = process.hrtime.bigint();
    const session = new RegistrySession({ env: freshEnv() });
    const store = await LayoutStore.open(dir);
    try {
      await copy(session.repository(ref, 'pull'), ref.identifier, store, 'bench', { platform: 'host', concurrency: 6 });
    } finally {
      await store.close();
      await session.close();
    }
    if (i >= 0) record('pull in-process', Number(process.hrtime.bigint() - t0) / 1e9);
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main() {
  rmSync(BASE, { recursive: true, force: true });
  mkdirSync(BASE, { recursive: true });
  let reg;
  try {
    const layout = join(BASE, 'layout');
    process.stdout.write('registry-bench: generating a ~200 MB image... ');
    const total = await makeImage(layout);
    console.log(`${(total / MB).toFixed(1)} MB compressed`);
    reg = await startRegistry(join(BASE, 'registry'));
    const host = reg.host;
    // one source image for the pulls, pushed by skopeo
    execFileSync('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${host}/bench/source:1`], { env: freshEnv() });
    // one untimed run of each command first: slipway's code cache for pull and push is written
    // then (once per install, as a binary is compiled once), and both tools' files are in the page cache
    {
      const w = await startRegistry(join(BASE, 'registry-warmup'));
      try {
        timed(process.execPath, [BIN, 'push', '-q', `oci:${layout}:bench`, `${w.host}/bench/warmup:1`], freshEnv());
        timed('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${w.host}/bench/warmup2:1`], freshEnv());
      } finally {
        w.proc.kill('SIGTERM');
      }
      timed(process.execPath, [BIN, 'pull', '-q', '--root', join(BASE, 'root-warmup'), `${host}/bench/source:1`], freshEnv());
      timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${host}/bench/source:1`, `oci:${join(BASE, 'skopeo-warmup')}:bench`], freshEnv());
      for (const d of ['registry-warmup', 'root-warmup', 'skopeo-warmup']) rmSync(join(BASE, d), { recursive: true, force: true });
    }
    for (let i = 0; i < RUNS; i++) {
      // pushes go to a registry started for that run: nothing there to mount or skip
      // (skopeo keeps a system-wide blob-info cache when run as root, whatever HOME says)
      const pushReg = async (name, cmd, argv) => {
        const r = await startRegistry(join(BASE, `registry-${name}-${i}`));
        try {
          record(`push ${name}`, timed(cmd, argv(r.host), freshEnv(), `push ${name}`));
        } finally {
          r.proc.kill('SIGTERM');
          rmSync(join(BASE, `registry-${name}-${i}`), { recursive: true, force: true });
        }
      };
      if (ONLY !== 'pull') {
        await pushReg('slipway', process.execPath, (h) => [BIN, 'push', '-q', `oci:${layout}:bench`, `${h}/bench/image:1`]);
        await pushReg('skopeo', 'skopeo', (h) => ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:bench`, `docker://${h}/bench/image:1`]);
      }
      if (ONLY !== 'push') {
        record('pull slipway', timed(process.execPath, [BIN, 'pull', '-q', '--root', join(BASE, `root-${i}`), `${host}/bench/source:1`], freshEnv(), 'pull slipway'));
        record('pull skopeo', timed('skopeo', ['copy', '--quiet', '--src-tls-verify=false', `docker://${host}/bench/source:1`, `oci:${join(BASE, `skopeo-out-${i}`)}:bench`], freshEnv(), 'pull skopeo'));
      }
      rmSync(join(BASE, `root-${i}`), { recursive: true, force: true });
      rmSync(join(BASE, `skopeo-out-${i}`), { recursive: true, force: true });
    }
    if (WARM && ONLY !== 'push') await warmPulls(host);
    const mbps = (name) => (total / MB / best(name)).toFixed(1);
    console.log(`registry-bench: best of ${RUNS} runs, ${(total / MB).toFixed(1)} MB image, local docker-registry at ${host}`);
    console.log('  operation      slipway              skopeo               ratio (slipway/skopeo time)   median ratio');
    for (const op of ['push', 'pull']) {
      if (results[`${op} slipway`] === undefined) continue;
      const s = best(`${op} slipway`);
      const k = best(`${op} skopeo`);
      const m = median(`${op} slipway`) / median(`${op} skopeo`);
      console.log(`  ${op.padEnd(13)}  ${`${s.toFixed(2)} s ${mbps(`${op} slipway`)} MB/s`.padEnd(19)}  ${`${k.toFixed(2)} s ${mbps(`${op} skopeo`)} MB/s`.padEnd(19)}  ${`${(s / k).toFixed(2)}${s / k <= 1 ? '' : '  (slower than skopeo)'}`.padEnd(28)}  ${m.toFixed(2)}`);
    }
    if (results['pull in-process'] !== undefined) {
      const w = best('pull in-process');
      console.log(`  pull in-process (warm, transfer only): ${w.toFixed(2)} s ${(total / MB / w).toFixed(1)} MB/s; ratio to the skopeo CLI ${(w / best('pull skopeo')).toFixed(2)}`);
    }
    console.log(`  load average at the end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
    if (process.env.NODE_EXTRA_CA_CERTS) {
      // Node 20 reads and parses that file, and builds its whole root store, before any script runs
      const nodeStart = (env) => Math.min(...[0, 1, 2, 3, 4].map(() => timed(process.execPath, ['-e', '0'], env)));
      const { NODE_EXTRA_CA_CERTS: _, ...without } = process.env;
      console.log(`  NODE_EXTRA_CA_CERTS is set: \`node -e 0\` takes ${(nodeStart(process.env) * 1000).toFixed(0)} ms here, ${(nodeStart(without) * 1000).toFixed(0)} ms without it (every slipway run pays the difference)`);
    }
    for (const [name, list] of Object.entries(results)) {
      const c = cpu[name] ?? [];
      console.log(`  ${name.padEnd(13)}  wall ${list.map((x) => x.toFixed(2)).join(' ')} s; cpu ${c.map((x) => x.toFixed(2)).join(' ')} s`);
    }
  } finally {
    reg?.proc.kill('SIGTERM');
    if (!KEEP) rmSync(BASE, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(`registry-bench: ${e.stack ?? e}`);
  process.exit(1);
});
