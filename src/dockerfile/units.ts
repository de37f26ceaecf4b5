/** Go `time.ParseDuration` ("1m30s", "1.5h", "300ms") in nanoseconds; undefined when invalid. */
export function parseGoDuration(s: string): number | undefined {
  const UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, 'μs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
  let str = s;
  let sign = 1;
  if (str.startsWith('-') || str.startsWith('+')) {
    if (str[0] === '-') sign = -1;
    str = str.slice(1);
  }
  if (str === '0') return 0;
  if (str === '') return undefined;
  let total = 0;
  // (micro signs escaped: the CLI bundle is kept ASCII, which V8 reads and compiles faster)
  const re = /^(\d+(?:\.\d*)?|\.\d+)(ns|us|\u00b5s|\u03bcs|ms|s|m|h)/;
  while (str.length > 0) {
    const m = re.exec(str);
    if (!m) return undefined;
    total += Number(m[1]) * (UNITS[m[2] as string] as number);
    str = str.slice(m[0].length);
  }
  return Math.round(sign * total);
}

/** docker/go-units RAMInBytes ("64m", "1g", "512KiB", "1024"): 1024-based; undefined when invalid. */
export function parseRamBytes(s: string): number | undefined {
  const m = /^(\d+(?:\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(s);
  if (!m) return undefined;
  const n = Number(m[1]);
  if (Number.isNaN(n)) return undefined;
  const pow = m[2] ? 'kmgtp'.indexOf((m[2] as string).toLowerCase()) + 1 : 0;
  return Math.floor(n * 1024 ** pow);
}
