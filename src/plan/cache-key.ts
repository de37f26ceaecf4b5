import { createHash } from 'node:crypto';
import type { CacheInfo, CacheKeyPart } from './types.js';

/** sha256 over the parts (name and value of each, in order). Undefined when any part is pending. */
export function cacheKeyOf(parts: readonly CacheKeyPart[]): string | undefined {
  if (parts.some((p) => p.pending)) return undefined;
  const h = createHash('sha256');
  for (const p of parts) h.update(`${p.name.length}:${p.name}${p.value.length}:${p.value}\n`);
  return `sha256:${h.digest('hex')}`;
}

export function cacheInfo(parts: CacheKeyPart[]): CacheInfo {
  const key = cacheKeyOf(parts);
  return key === undefined ? { parts } : { parts, key };
}

/** `sha256:<hex>` of a value, for build-arg values and large texts that must not appear in clear. */
export function hashValue(value: string): string {
  return `sha256:${createHash('sha256').update(value).digest('hex')}`;
}

/** The parent part: the previous key, or pending. */
export function parentPart(parent: CacheInfo): CacheKeyPart {
  return parent.key === undefined ? { name: 'parent', value: 'pending', pending: true } : { name: 'parent', value: parent.key };
}
