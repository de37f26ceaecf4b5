import { UnknownUserError } from './errors.js';
import type { RootfsView } from './rootfs-view.js';

/** A USER resolved against the rootfs, as runc's GetExecUser does. */
export interface ResolvedUser {
  uid: number;
  gid: number;
  /** Supplementary groups (from /etc/group membership when no group was given). */
  additionalGids: number[];
  home: string;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export function parsePasswd(text: string): PasswdEntry[] {
  return text.split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 7 || line.startsWith('#')) return [];
    const uid = Number(f[2]);
    const gid = Number(f[3]);
    if (!Number.isInteger(uid) || !Number.isInteger(gid)) return [];
    return [{ name: f[0]!, uid, gid, home: f[5]! }];
  });
}

export function parseGroup(text: string): GroupEntry[] {
  return text.split('\n').flatMap((line) => {
    const f = line.split(':');
    if (f.length < 4 || line.startsWith('#')) return [];
    const gid = Number(f[2]);
    if (!Number.isInteger(gid)) return [];
    return [{ name: f[0]!, gid, members: f[3]!.split(',').map((m) => m.trim()).filter(Boolean) }];
  });
}

const NUMERIC = /^\d+$/;

/**
 * Resolves `user[:group]` (names or numbers) against the passwd/group text of a
 * rootfs. Unknown names throw UnknownUserError naming `location`.
 */
export function resolveUserSpec(spec: string, passwdText: string | undefined, groupText: string | undefined, location: string): ResolvedUser {
  const [userPart = '', groupPart] = spec.trim() === '' ? ['root'] : spec.trim().split(':', 2);
  const passwd = parsePasswd(passwdText ?? '');
  const groups = parseGroup(groupText ?? '');
  let entry: PasswdEntry | undefined;
  let uid: number;
  let gid: number;
  let home = '/';
  if (NUMERIC.test(userPart)) {
    uid = Number(userPart);
    entry = passwd.find((p) => p.uid === uid);
    gid = entry?.gid ?? 0;
  } else {
    entry = passwd.find((p) => p.name === userPart);
    if (!entry) {
      if (userPart === 'root' && passwdText === undefined) entry = { name: 'root', uid: 0, gid: 0, home: '/root' };
      else throw new UnknownUserError(`user "${userPart}"`, location, '/etc/passwd');
    }
    uid = entry.uid;
    gid = entry.gid;
  }
  if (entry) home = entry.home || '/';
  else if (uid === 0) home = '/root';
  let additionalGids: number[] = [];
  if (groupPart !== undefined && groupPart !== '') {
    if (NUMERIC.test(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw new UnknownUserError(`group "${groupPart}"`, location, '/etc/group');
      gid = g.gid;
    }
  } else if (entry) {
    const name = entry.name;
    additionalGids = [...new Set(groups.filter((g) => g.members.includes(name) && g.gid !== gid).map((g) => g.gid))];
  }
  return { uid, gid, additionalGids, home };
}

/** resolveUserSpec against the rootfs's /etc/passwd and /etc/group. */
export function resolveUser(view: RootfsView, spec: string, location: string): ResolvedUser {
  return resolveUserSpec(spec, view.readFile('/etc/passwd'), view.readFile('/etc/group'), location);
}
