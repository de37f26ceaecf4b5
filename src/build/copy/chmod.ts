import { SlipwayError } from '../../oci/index.js';

export class InvalidChmodError extends SlipwayError {
  constructor(value: string, where: string) {
    super('INVALID_CHMOD', `${where}: invalid --chmod "${value}"`, { hint: 'use octal (0755) or symbolic (u=rwx,go=rx, a+x)', exitCode: 2 });
  }
}

/**
 * `--chmod` as a function of the current mode. Octal sets the bits; symbolic
 * (`u+x,g-w,o=r`, `a+X`) applies clause by clause as chmod(1) does.
 */
export function parseChmod(value: string, where: string): (mode: number, isDir: boolean) => number {
  if (/^[0-7]{1,4}$/.test(value)) {
    const m = parseInt(value, 8);
    return () => m;
  }
  const clauses = value.split(',');
  const ops: ((mode: number, isDir: boolean) => number)[] = [];
  for (const c of clauses) {
    const m = /^([ugoa]*)([-+=])([rwxXst]*|[ugo])$/.exec(c);
    if (!m) throw new InvalidChmodError(value, where);
    const who = m[1] === '' || m[1]?.includes('a') ? 'ugo' : (m[1] as string);
    const op = m[2] as '+' | '-' | '=';
    const perms = m[3] as string;
    ops.push((mode, isDir) => {
      let bits = 0;
      const copyFrom = /^[ugo]$/.test(perms) ? perms : undefined;
      for (const w of who) {
        const shift = w === 'u' ? 6 : w === 'g' ? 3 : 0;
        if (copyFrom) {
          const s = copyFrom === 'u' ? 6 : copyFrom === 'g' ? 3 : 0;
          bits |= ((mode >> s) & 7) << shift;
          continue;
        }
        for (const p of perms) {
          if (p === 'r') bits |= 4 << shift;
          else if (p === 'w') bits |= 2 << shift;
          else if (p === 'x') bits |= 1 << shift;
          else if (p === 'X' && (isDir || (mode & 0o111) !== 0)) bits |= 1 << shift;
          else if (p === 's' && w === 'u') bits |= 0o4000;
          else if (p === 's' && w === 'g') bits |= 0o2000;
          else if (p === 't') bits |= 0o1000;
        }
      }
      if (op === '+') return mode | bits;
      if (op === '-') return mode & ~bits;
      let clear = 0;
      for (const w of who) clear |= 7 << (w === 'u' ? 6 : w === 'g' ? 3 : 0);
      return (mode & ~clear) | bits;
    });
  }
  return (mode, isDir) => ops.reduce((m, f) => f(m, isDir), mode) & 0o7777;
}
