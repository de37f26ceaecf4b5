/** Levenshtein distance (case-insensitive callers lowercase first). */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + cost);
    }
    prev = cur;
  }
  return prev[b.length] as number;
}

/** The closest candidate to `value` (case-insensitive), if close enough to be a likely typo. */
export function suggest(value: string, candidates: readonly string[]): string | undefined {
  const v = value.toLowerCase();
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(v, c.toLowerCase());
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  if (best === undefined) return undefined;
  const limit = v.length <= 2 ? 1 : 2;
  return bestD <= limit ? best : undefined;
}

/** ` (did you mean X?)` or ''. */
export function didYouMean(value: string, candidates: readonly string[]): string {
  const s = suggest(value, candidates);
  return s === undefined ? '' : ` (did you mean ${s}?)`;
}
