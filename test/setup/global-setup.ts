import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { requireTools } from './tools.js';
import { startRegistry, type RunningRegistry } from './registry.js';

/** Credentials of the auth+TLS test registry. Test-only, never real. */
export const TEST_USER = 'slipway';
export const TEST_PASSWORD = 'test-password-5up3r';

declare module 'vitest' {
  export interface ProvidedContext {
    registry: string;
    authRegistry: string;
    authRegistryCa: string;
    authUser: string;
    authPassword: string;
    worldDir: string;
  }
}

let running: RunningRegistry[] = [];
let world = '';

export async function setup(project: TestProject): Promise<void> {
  const { ok, missing } = requireTools('docker-registry', 'htpasswd', 'openssl', 'curl');
  world = mkdtempSync(join(tmpdir(), 'slipway-test-world-'));
  project.provide('worldDir', world);
  if (!ok) {
    console.warn(`test world: no registries (missing ${missing.join(', ')}); e2e tests that need one will skip`);
    project.provide('registry', '');
    project.provide('authRegistry', '');
    project.provide('authRegistryCa', '');
    project.provide('authUser', TEST_USER);
    project.provide('authPassword', TEST_PASSWORD);
    return;
  }
  const plain = await startRegistry({ dir: join(world, 'registry-plain') });
  const secure = await startRegistry({ dir: join(world, 'registry-auth'), tls: true, auth: { user: TEST_USER, password: TEST_PASSWORD } });
  running = [plain, secure];
  project.provide('registry', plain.host);
  project.provide('authRegistry', secure.host);
  project.provide('authRegistryCa', join(secure.dir, 'ca.crt'));
  project.provide('authUser', TEST_USER);
  project.provide('authPassword', TEST_PASSWORD);
}

export async function teardown(): Promise<void> {
  await Promise.all(running.map((r) => r.stop()));
  running = [];
  if (world && !process.env.SLIPWAY_KEEP_TEST_WORLD) rmSync(world, { recursive: true, force: true });
}
