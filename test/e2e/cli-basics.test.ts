import { describe, expect, it } from 'vitest';
import { slipway } from '../helpers/cli.js';

describe('slipway CLI basics', () => {
  it('prints help and exits 0', async () => {
    const r = await slipway(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Usage: slipway COMMAND');
  });

  it('rejects an unknown command with exit 2 and a one-line error', async () => {
    const r = await slipway(['frobnicate']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });

  it('rejects an unknown option without a stack trace', async () => {
    const r = await slipway(['info', '--nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^Error: info: Unknown option '--nope'/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
