import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { COMMANDS, type CommandEntry } from '../../src/cli/commands/index.js';
import { main } from '../../src/cli/main.js';

async function run(argv: string[], commands?: readonly CommandEntry[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(argv, { stdout, stderr, stdin: new PassThrough(), env: {} }, commands);
  return { code, stdout: out, stderr: err };
}

describe('the lazy command table', () => {
  it.each(COMMANDS.map((c) => [c.name, c] as const))('%s: the table names the command its module defines, and its --help shows the table\'s summary', async (name, entry) => {
    const cmd = await entry.load();
    expect(cmd.name).toBe(name);
    const r = await run([name, '--help']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, 3)).toEqual([`Usage: slipway ${name} ${cmd.usage}`, '', entry.summary]);
  });

  it('has each name once', () => {
    expect(new Set(COMMANDS.map((c) => c.name)).size).toBe(COMMANDS.length);
  });

  it('slipway --help lists every command with its summary', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(0);
    for (const c of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${c.name} +${c.summary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`, 'm'));
  });

  it.each(COMMANDS.map((c) => [c.name]))('slipway %s --help prints the usage and options of the command', async (name) => {
    const r = await run([name, '--help']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: slipway ${name} `));
    expect(r.stdout).toContain('Global options:');
    expect(r.stdout).toContain('--root DIR');
  });

  it('loads only the command that runs', async () => {
    const loaded: string[] = [];
    const table = COMMANDS.map((c) => ({ ...c, load: () => (loaded.push(c.name), c.load()) }));
    expect((await run(['--help'], table)).code).toBe(0);
    expect(loaded).toEqual([]);
    expect((await run(['tag', '--help'], table)).code).toBe(0);
    expect(loaded).toEqual(['tag']);
  });

  it('an unknown command is a usage error that loads nothing', async () => {
    const r = await run(['bulid', 'x'], [{ name: 'build', summary: 's', load: () => Promise.reject(new Error('must not load')) }]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('slipway: unknown command "bulid"\nRun "slipway --help" for the list of commands.\n');
  });
});

describe('a command whose module fails to load', () => {
  const broken: CommandEntry[] = [
    { name: 'pull', summary: 'pull an image', load: () => import('./no-such-module-for-this-test.js' as string) as never },
  ];

  it('gives one clean error line with a hint and exit code 1, no stack trace', async () => {
    const r = await run(['pull', 'alpine'], broken);
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^Error: loading the "pull" command failed: .*no-such-module-for-this-test/);
    expect(lines[1]).toMatch(/^ {2}hint: the installation is incomplete or damaged: reinstall slipway/);
    expect(lines).toHaveLength(2);
    expect(r.stdout).toBe('');
  });

  it('with --debug also prints the stack and the cause', async () => {
    const r = await run(['pull', '--debug', 'alpine'], broken);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('CommandLoadError');
    expect(r.stderr).toMatch(/caused by: .*no-such-module-for-this-test/);
  });

  it('--help of another command still works', async () => {
    const table = [...broken, COMMANDS.find((c) => c.name === 'tag')!];
    expect((await run(['tag', '--help'], table)).code).toBe(0);
    expect((await run(['--help'], table)).stdout).toContain('  pull ');
  });
});
