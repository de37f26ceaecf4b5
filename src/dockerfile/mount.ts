import { didYouMean } from './suggest.js';
import { parseRamBytes } from './units.js';

export type MountType = 'bind' | 'cache' | 'tmpfs' | 'secret' | 'ssh';
const TYPES: readonly MountType[] = ['bind', 'cache', 'tmpfs', 'secret', 'ssh'];
const SHARING = ['shared', 'private', 'locked'] as const;
const KEYS = ['type', 'from', 'source', 'target', 'readonly', 'id', 'sharing', 'required', 'size', 'mode', 'uid', 'gid', 'src', 'dst', 'destination', 'ro', 'rw', 'readwrite', 'env'];

/** A `RUN --mount=` value, parsed and validated (BuildKit's rules). `from` is still a name. */
export interface MountSpec {
  type: MountType;
  from?: string;
  source?: string;
  target?: string;
  readonly: boolean;
  id?: string;
  sharing?: 'shared' | 'private' | 'locked';
  required?: boolean;
  size?: number;
  mode?: number;
  uid?: number;
  gid?: number;
  env?: string;
}

export class MountError extends Error {}

/** Splits a CSV record (fields may be double-quoted, `""` is a quote). */
export function csvFields(value: string): string[] {
  const out: string[] = [];
  let i = 0;
  if (value === '') return [];
  for (;;) {
    let field = '';
    if (value[i] === '"') {
      i++;
      for (;;) {
        if (i >= value.length) throw new MountError(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
        const ch = value[i] as string;
        if (ch === '"') {
          if (value[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += ch;
        i++;
      }
      if (i < value.length && value[i] !== ',') throw new MountError(`failed to parse csv mounts: extraneous or missing " in quoted-field`);
    } else {
      const j = value.indexOf(',', i);
      field = j < 0 ? value.slice(i) : value.slice(i, j);
      i = j < 0 ? value.length : j;
    }
    out.push(field);
    if (i >= value.length) return out;
    i++;
  }
}

function parseBool(key: string, value: string): boolean {
  const v = value.toLowerCase();
  if (['1', 't', 'true'].includes(v)) return true;
  if (['0', 'f', 'false'].includes(v)) return false;
  throw new MountError(`invalid value for ${key}: ${value}`);
}

function parseUint(value: string, radix: 8 | 10, what: string): number {
  const re = radix === 8 ? /^[0-7]+$/ : /^\d+$/;
  const n = parseInt(value, radix);
  if (!re.test(value) || n > 0xffffffff) throw new MountError(`invalid value ${value} for ${what}`);
  return n;
}

/**
 * Parses a mount spec. `expand` is applied to every value first (the planner
 * passes the lexer). With `lenient`, values that still contain `$` are not
 * validated (parse time, before expansion).
 */
export function parseMountSpec(value: string, expand: (word: string) => string = (w) => w, lenient = false): MountSpec {
  const m: MountSpec = { type: 'bind', readonly: true };
  let roAuto = true;
  for (const field of csvFields(value)) {
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).toLowerCase();
    if (eq < 0) {
      if (key === 'readonly' || key === 'ro') {
        m.readonly = true;
        roAuto = false;
      } else if (key === 'readwrite' || key === 'rw') {
        m.readonly = false;
        roAuto = false;
      } else if (key === 'required') {
        if (m.type !== 'secret' && m.type !== 'ssh') throw new MountError(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = true;
      } else throw new MountError(`invalid field '${field}' must be a key=value pair`);
      continue;
    }
    const raw = field.slice(eq + 1);
    if (key === 'from' && /\$./.test(raw)) throw new MountError(`'from' doesn't support variable expansion, define alias stage instead`);
    if (lenient && raw.includes('$')) {
      if (!KEYS.includes(key)) throw new MountError(`unexpected key '${key}' in '${field}'${didYouMean(key, KEYS)}`);
      continue;
    }
    const v = expand(raw);
    switch (key) {
      case 'type': {
        const t = v.toLowerCase() as MountType;
        if (!TYPES.includes(t)) throw new MountError(`unsupported mount type "${v}"${didYouMean(v, TYPES)}`);
        m.type = t;
        break;
      }
      case 'from':
        m.from = v;
        break;
      case 'source':
      case 'src':
        m.source = v;
        break;
      case 'target':
      case 'dst':
      case 'destination':
        m.target = v;
        break;
      case 'readonly':
      case 'ro':
        m.readonly = parseBool(key, v);
        roAuto = false;
        break;
      case 'readwrite':
      case 'rw':
        m.readonly = !parseBool(key, v);
        roAuto = false;
        break;
      case 'required':
        if (m.type !== 'secret' && m.type !== 'ssh') throw new MountError(`unexpected key '${key}' for mount type '${m.type}'`);
        m.required = parseBool(key, v);
        break;
      case 'size': {
        if (m.type !== 'tmpfs') throw new MountError(`unexpected key '${key}' for mount type '${m.type}'`);
        const n = parseRamBytes(v);
        if (n === undefined) throw new MountError(`invalid value for ${key}: ${v}`);
        m.size = n;
        break;
      }
      case 'id':
        m.id = v;
        break;
      case 'sharing': {
        const s = v.toLowerCase() as MountSpec['sharing'] & string;
        if (!(SHARING as readonly string[]).includes(s)) throw new MountError(`unsupported sharing value "${v}"${didYouMean(v, SHARING)}`);
        m.sharing = s;
        break;
      }
      case 'mode':
        m.mode = parseUint(v, 8, 'mode');
        break;
      case 'uid':
        m.uid = parseUint(v, 10, 'uid');
        break;
      case 'gid':
        m.gid = parseUint(v, 10, 'gid');
        break;
      case 'env':
        m.env = v;
        break;
      default:
        throw new MountError(`unexpected key '${key}' in '${field}'${didYouMean(key, KEYS)}`);
    }
  }
  const fileInfo = m.type === 'secret' || m.type === 'ssh' || m.type === 'cache';
  if (!fileInfo) {
    for (const k of ['mode', 'uid', 'gid'] as const) if (m[k] !== undefined) throw new MountError(`${k} not allowed for "${m.type}" type mounts`);
  }
  if (roAuto) m.readonly = !(m.type === 'cache' || m.type === 'tmpfs');
  if (m.type === 'secret') {
    if (m.from !== undefined) throw new MountError('secret mount should not have a from');
    if (m.sharing !== undefined) throw new MountError('secret mount should not define sharing');
    if (!lenient && m.source === undefined && m.target === undefined && m.id === undefined) throw new MountError('invalid secret mount. one of source, target required');
    if (m.source !== undefined && m.id !== undefined) throw new MountError("both source and id can't be set");
  }
  if (m.sharing !== undefined && m.type !== 'cache') throw new MountError(`invalid cache sharing set for ${m.type} mount`);
  return m;
}
