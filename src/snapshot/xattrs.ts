import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SnapshotError } from './errors.js';

/**
 * Node has no xattr API, so extended attributes go through the `attr` tools:
 * one `getfattr` run per tree (or batch of paths) to read and one
 * `setfattr --restore` run per layer to write, never a process per file.
 */
export type Xattrs = Map<string, Buffer>;

/** Names never copied into or out of layers: overlay's own bookkeeping and host labels. */
export function isPortableXattr(name: string): boolean {
  return !/^(trusted|user)\.overlay\./.test(name) && !name.startsWith('user.fuseoverlayfs.') && name !== 'security.selinux' && !name.startsWith('system.');
}

function run(cmd: string, args: string[], cwd: string): Promise<{ code: number; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err = (err + d).slice(-4000)));
    child.on('error', (e) => {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        reject(new SnapshotError(`extended attributes need "${cmd}", which is not installed`, 'install the attr package (apt-get install attr)', e));
      } else reject(e);
    });
    child.on('close', (code) => resolve({ code: code ?? 1, stdout: Buffer.concat(out), stderr: err }));
  });
}

function unescapePath(s: string): string {
  const bytes: number[] = [];
  const raw = Buffer.from(s, 'utf8');
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === 0x5c && i + 3 < raw.length + 0 && /^[0-7]{3}$/.test(raw.toString('latin1', i + 1, i + 4))) {
      bytes.push(parseInt(raw.toString('latin1', i + 1, i + 4), 8));
      i += 3;
    } else bytes.push(raw[i] as number);
  }
  return Buffer.from(bytes).toString('utf8');
}

function escapePath(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    out += b === 0x5c || b < 0x20 || b === 0x7f || b === 0x3d ? `\\${b.toString(8).padStart(3, '0')}` : String.fromCharCode(b);
  }
  return Buffer.from(out, 'latin1').toString('utf8');
}

function parseDump(text: string, base: string): Map<string, Xattrs> {
  const out = new Map<string, Xattrs>();
  let cur: Xattrs | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('# file: ')) {
      const p = unescapePath(line.slice(8));
      cur = new Map();
      out.set(base === '' || p.startsWith('/') ? p : join(base, p), cur);
      continue;
    }
    if (cur === undefined || line === '') continue;
    const eq = line.indexOf('=');
    if (eq < 0) {
      cur.set(line, Buffer.alloc(0));
      continue;
    }
    const v = line.slice(eq + 1);
    cur.set(line.slice(0, eq), v.startsWith('0s') ? Buffer.from(v.slice(2), 'base64') : Buffer.from(v.replace(/^"|"$/g, ''), 'utf8'));
  }
  return out;
}

/** All xattrs of every file under `dir` (or each of several dirs; absolute paths as keys), without following symlinks. */
export async function readTreeXattrs(dir: string | readonly string[], match = '-'): Promise<Map<string, Xattrs>> {
  const r = await run('getfattr', ['-R', '-P', '-h', '-d', '-m', match, '-e', 'base64', '--absolute-names', '--', ...(typeof dir === 'string' ? [dir] : dir)], '/');
  if (r.code !== 0 && r.stdout.length === 0 && r.stderr.trim() !== '') {
    throw new SnapshotError(`reading extended attributes under ${dir}: ${r.stderr.trim()}`, 'check that the directory exists and is readable');
  }
  return parseDump(r.stdout.toString('utf8'), '');
}

/** xattrs of the given absolute paths (batched into few getfattr runs). */
export async function readXattrsOf(paths: readonly string[]): Promise<Map<string, Xattrs>> {
  const out = new Map<string, Xattrs>();
  let batch: string[] = [];
  let len = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const r = await run('getfattr', ['-h', '-d', '-m', '-', '-e', 'base64', '--absolute-names', '--', ...batch], '/');
    for (const [k, v] of parseDump(r.stdout.toString('utf8'), '')) out.set(k, v);
    batch = [];
    len = 0;
  };
  for (const p of paths) {
    batch.push(p);
    len += p.length + 1;
    if (len > 64_000) await flush();
  }
  await flush();
  return out;
}

export interface XattrWrite {
  /** Path relative to `root`, already checked to resolve inside it without symlinks. */
  rel: string;
  name: string;
  value: Buffer;
}

/**
 * Sets xattrs under `root` in one `setfattr --restore` run (no symlink
 * following). Returns one warning line per attribute the filesystem or the
 * namespace refused (e.g. trusted.* in a user namespace).
 */
export async function writeXattrs(root: string, items: readonly XattrWrite[]): Promise<string[]> {
  if (items.length === 0) return [];
  const byPath = new Map<string, XattrWrite[]>();
  for (const it of items) {
    const l = byPath.get(it.rel) ?? [];
    l.push(it);
    byPath.set(it.rel, l);
  }
  let dump = '';
  for (const [rel, list] of byPath) {
    dump += `# file: ${escapePath(rel === '' ? '.' : rel)}\n`;
    for (const it of list) dump += `${it.name}=0s${it.value.toString('base64')}\n`;
    dump += '\n';
  }
  const tmp = mkdtempSync(join(tmpdir(), 'slipway-xattr-'));
  try {
    const file = join(tmp, 'restore');
    writeFileSync(file, dump);
    const r = await run('setfattr', ['-h', `--restore=${file}`], root);
    if (r.code === 0) return [];
    return r.stderr.split('\n').filter((l) => l.trim() !== '').map((l) => `extended attribute not set: ${l.trim()}`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
