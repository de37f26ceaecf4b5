/**
 * Go's filepath.Match for one path component, which BuildKit uses to expand
 * COPY/ADD wildcards: `*` (any run of characters), `?` (one character),
 * `[...]` classes with `^` negation and `lo-hi` ranges, `\` escapes. No brace
 * or extended globs, no `**`, and dot files are not special.
 */

/** Whether `name` holds an unescaped `*`, `?` or `[` (BuildKit's containsWildcards). */
export function hasWildcard(name: string): boolean {
  for (let i = 0; i < name.length; i++) {
    const c = name[i];
    if (c === '\\') i++;
    else if (c === '*' || c === '?' || c === '[') return true;
  }
  return false;
}

export class WildcardSyntaxError extends Error {}

const cache = new Map<string, (name: string) => boolean>();

function esc(c: string): string {
  return `\\u{${(c.codePointAt(0) as number).toString(16)}}`;
}

/** Compiles a Go filepath.Match pattern (one component) into a predicate. Throws WildcardSyntaxError like Go's ErrBadPattern. */
export function goMatcher(pattern: string): (name: string) => boolean {
  const hit = cache.get(pattern);
  if (hit) return hit;
  const chars = [...pattern];
  let re = '^';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\') {
      if (i + 1 >= chars.length) throw new WildcardSyntaxError(`${pattern}: trailing "\\"`);
      re += esc(chars[++i] as string);
    } else if (c === '[') {
      let j = i + 1;
      let cls = '[';
      if (chars[j] === '^') {
        cls += '^/';
        j++;
      }
      let ranges = 0;
      const one = (): string => {
        let ch = chars[j];
        if (ch === undefined || ch === '-' || ch === ']') throw new WildcardSyntaxError(`${pattern}: bad character class`);
        if (ch === '\\') {
          j++;
          ch = chars[j];
          if (ch === undefined) throw new WildcardSyntaxError(`${pattern}: trailing "\\"`);
        }
        j++;
        return ch;
      };
      for (;;) {
        if (chars[j] === ']' && ranges > 0) break;
        if (chars[j] === undefined) throw new WildcardSyntaxError(`${pattern}: unterminated "["`);
        const lo = one();
        if (chars[j] === '-') {
          j++;
          const hi = one();
          if ((hi.codePointAt(0) as number) < (lo.codePointAt(0) as number)) throw new WildcardSyntaxError(`${pattern}: bad range ${lo}-${hi}`);
          cls += `${esc(lo)}-${esc(hi)}`;
        } else cls += esc(lo);
        ranges++;
      }
      re += `${cls}]`;
      i = j;
    } else re += esc(c);
  }
  const rx = new RegExp(`${re}$`, 'u');
  const fn = (name: string): boolean => rx.test(name);
  cache.set(pattern, fn);
  return fn;
}
