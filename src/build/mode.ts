import { readFile, rename, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { join } from 'node:path';
import { detectStorageDriver, inUserNamespace, type StorageDriver } from '../runtime/index.js';

const MAX_AGE_MS = 24 * 3600 * 1000;

/**
 * The storage driver, probed once a day per (kernel, user, namespace) and
 * remembered under the store's tmp dir: the probe mounts a test overlay, which
 * costs more than a fully cached rebuild.
 */
export async function rememberedStorageDriver(tmpDir: string): Promise<{ driver: StorageDriver; reason: string }> {
  const file = join(tmpDir, 'storage-driver.json');
  const key = `${release()}|${process.getuid?.() ?? 0}|${inUserNamespace()}`;
  try {
    const saved = JSON.parse(await readFile(file, 'utf8')) as { key: string; at: number; driver: StorageDriver; reason: string };
    if (saved.key === key && Date.now() - saved.at < MAX_AGE_MS) return { driver: saved.driver, reason: saved.reason };
  } catch {
    /* probe */
  }
  const d = await detectStorageDriver();
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ key, at: Date.now(), driver: d.driver, reason: d.reason }))
    .then(() => rename(tmp, file))
    .catch(() => undefined);
  return { driver: d.driver, reason: d.reason };
}
