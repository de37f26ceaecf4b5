/** A parsed WWW-Authenticate challenge. */
export interface AuthChallenge {
  scheme: 'basic' | 'bearer';
  /** Lowercased parameter names: realm, service, scope, error... */
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate value (RFC 7235 challenges; quoted strings may contain commas,
 * as in scope="repository:a:pull,push"). Unknown schemes are skipped; the first known one wins.
 */
export function parseChallenges(header: string | undefined): AuthChallenge[] {
  if (!header) return [];
  const out: AuthChallenge[] = [];
  let i = 0;
  const s = header;
  let current: AuthChallenge | undefined;
  let skipping = false;
  while (i < s.length) {
    while (i < s.length && (s[i] === ' ' || s[i] === ',' || s[i] === '\t')) i++;
    const tokStart = i;
    while (i < s.length && /[A-Za-z0-9!#$%&'*+.^_`|~-]/.test(s[i] as string)) i++;
    const token = s.slice(tokStart, i);
    if (token === '') {
      i++;
      continue;
    }
    let j = i;
    while (j < s.length && s[j] === ' ') j++;
    if (s[j] === '=') {
      // auth-param
      j++;
      while (j < s.length && s[j] === ' ') j++;
      let value = '';
      if (s[j] === '"') {
        j++;
        while (j < s.length && s[j] !== '"') {
          if (s[j] === '\\' && j + 1 < s.length) j++;
          value += s[j];
          j++;
        }
        j++;
      } else {
        const vStart = j;
        while (j < s.length && s[j] !== ',') j++;
        value = s.slice(vStart, j).trim();
      }
      i = j;
      if (current && !skipping) current.params[token.toLowerCase()] = value;
    } else {
      // new challenge scheme
      const scheme = token.toLowerCase();
      if (scheme === 'basic' || scheme === 'bearer') {
        current = { scheme, params: {} };
        out.push(current);
        skipping = false;
      } else {
        current = undefined;
        skipping = true;
      }
    }
  }
  return out;
}

/** The bearer challenge if any, else basic, else undefined. */
export function pickChallenge(header: string | undefined): AuthChallenge | undefined {
  const all = parseChallenges(header);
  return all.find((c) => c.scheme === 'bearer' && c.params['realm']) ?? all.find((c) => c.scheme === 'basic');
}
