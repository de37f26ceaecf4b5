import { SlipwayError } from '../../oci/index.js';
import type { FsView } from './entries.js';

export class UnknownUserError extends SlipwayError {
  constructor(what: 'user' | 'group', name: string, where: string) {
    super('UNKNOWN_USER', `${where}: ${what} "${name}" not found in the image's /etc/${what === 'user' ? 'passwd' : 'group'}`, {
      hint: `create it in an earlier RUN step, or use a numeric id (--chown=1000:1000)`,
    });
  }
}

function lookup(file: Buffer | undefined, name: string, idField: number): number | undefined {
  if (file === undefined) return undefined;
  for (const line of file.toString('utf8').split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[idField] !== undefined && /^\d+$/.test(f[idField] as string)) return Number(f[idField]);
  }
  return undefined;
}

/**
 * `--chown=user[:group]` resolved in the image as docker does: numbers as is,
 * names through /etc/passwd and /etc/group; user without group takes the
 * user's primary group, a numeric user without a group gets gid = uid.
 */
export async function resolveChown(spec: string, fs: FsView, where: string): Promise<{ uid: number; gid: number }> {
  const [u = '', g] = spec.split(':', 2);
  let uid: number;
  let primary: number | undefined;
  if (/^\d+$/.test(u)) {
    // numeric user without a group: gid = uid, as docker does
    uid = Number(u);
    primary = uid;
  } else {
    const passwd = await fs.readFile('/etc/passwd');
    const id = lookup(passwd, u, 2);
    if (id === undefined) throw new UnknownUserError('user', u, where);
    uid = id;
    primary = lookup(passwd, u, 3);
  }
  let gid: number;
  if (g === undefined || g === '') gid = primary ?? uid;
  else if (/^\d+$/.test(g)) gid = Number(g);
  else {
    const id = lookup(await fs.readFile('/etc/group'), g, 2);
    if (id === undefined) throw new UnknownUserError('group', g, where);
    gid = id;
  }
  return { uid, gid };
}
