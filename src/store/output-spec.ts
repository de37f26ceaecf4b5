import { UsageError } from '../oci/index.js';

export type OutputType = 'oci' | 'docker' | 'local' | 'tar' | 'image' | 'registry';
const TYPES: readonly OutputType[] = ['oci', 'docker', 'local', 'tar', 'image', 'registry'];

/** One `--output` value, docker/buildx style. */
export interface OutputSpec {
  type: OutputType;
  /** Path, or "-" for stdout (archives only). */
  dest: string | undefined;
  /** oci: write an archive (tar) instead of a layout directory. Always true for docker and tar. */
  tar: boolean;
  /** name=... (comma-separated in buildx; several allowed): image names to tag. */
  names: string[];
  /** image/registry: push to the registry. */
  push: boolean;
  /** Every key=value as given (for exporters that take more). */
  attrs: Record<string, string>;
}

/** Splits one CSV record (buildx parses --output as CSV): commas separate, double quotes group. */
function csvFields(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (quoted) {
      if (c === '"' && s[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cur += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      out.push(cur);
      cur = '';
    } else cur += c;
  }
  if (quoted) throw new UsageError(`--output "${s}": unterminated quote`);
  out.push(cur);
  return out;
}

function bool(key: string, v: string, spec: string): boolean {
  if (v === '' || v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new UsageError(`--output "${spec}": ${key}=${v} is not a boolean`, 'use true or false');
}

/**
 * Parses `--output`/`-o` like `docker buildx build`: `type=oci,dest=out.tar`,
 * `type=oci,dest=DIR` (a layout directory unless `tar=true` or DIR ends in .tar),
 * `type=docker,dest=FILE.tar`, `type=registry,name=REF`; a bare `PATH` means
 * `type=local,dest=PATH` and a bare `-` means `type=tar,dest=-`, as in docker.
 */
export function parseOutputSpec(spec: string): OutputSpec {
  const s = spec.trim();
  if (s === '') throw new UsageError('--output is empty', 'e.g. --output type=oci,dest=out.tar');
  if (!s.includes('=')) {
    if (s === '-') return { type: 'tar', dest: '-', tar: true, names: [], push: false, attrs: { type: 'tar', dest: '-' } };
    return { type: 'local', dest: s, tar: false, names: [], push: false, attrs: { type: 'local', dest: s } };
  }
  const attrs: Record<string, string> = {};
  for (const field of csvFields(s)) {
    const i = field.indexOf('=');
    const key = (i < 0 ? field : field.slice(0, i)).trim().toLowerCase();
    const value = i < 0 ? '' : field.slice(i + 1);
    if (key === '') throw new UsageError(`--output "${spec}": empty key`);
    attrs[key] = key in attrs && key === 'name' ? `${attrs[key]},${value}` : value;
  }
  const typeText = attrs['type'];
  if (typeText === undefined) throw new UsageError(`--output "${spec}": missing type=`, `one of ${TYPES.join(', ')}`);
  if (!TYPES.includes(typeText as OutputType)) throw new UsageError(`--output "${spec}": unknown type "${typeText}"`, `one of ${TYPES.join(', ')}`);
  const type = typeText as OutputType;
  const dest = attrs['dest'] === '' ? undefined : attrs['dest'];
  const names = (attrs['name'] ?? '').split(',').map((n) => n.trim()).filter((n) => n !== '');
  let tar: boolean;
  if (type === 'oci') tar = attrs['tar'] !== undefined ? bool('tar', attrs['tar'], spec) : dest === '-' || (dest ?? '').endsWith('.tar');
  else if (type === 'docker' || type === 'tar') {
    tar = true;
    if (attrs['tar'] !== undefined && !bool('tar', attrs['tar'], spec)) throw new UsageError(`--output "${spec}": type=${type} is always an archive`, 'drop tar=false, or use type=oci for a layout directory');
  } else tar = false;
  const push = type === 'registry' || (attrs['push'] !== undefined && bool('push', attrs['push'], spec));
  if ((type === 'oci' || type === 'docker' || type === 'local' || type === 'tar') && dest === undefined) {
    throw new UsageError(`--output "${spec}": type=${type} needs dest=PATH`, `e.g. --output type=${type},dest=${type === 'local' ? 'rootfs' : 'image.tar'}`);
  }
  if (type === 'oci' && !tar && dest === '-') throw new UsageError(`--output "${spec}": a layout directory cannot go to stdout`, 'use tar=true');
  if (type === 'local' && dest === '-') throw new UsageError(`--output "${spec}": type=local writes a directory`, 'use type=tar,dest=- for a tar on stdout');
  if (type === 'registry' && names.length === 0) throw new UsageError(`--output "${spec}": type=registry needs name=REF`);
  return { type, dest, tar, names, push, attrs };
}
