import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DockerfileErrors, parseDockerfile } from '../../src/dockerfile/index.js';
import { createPlan } from '../../src/plan/index.js';

const ROOT = new URL('../fixtures/dockerfiles/', import.meta.url).pathname;
const OK = join(ROOT, 'ok');
const BAD = join(ROOT, 'bad');
const UPDATE = process.env['UPDATE_GOLDEN'] === '1';
const AMD64 = { os: 'linux', architecture: 'amd64' };

function golden(file: string, actual: unknown): void {
  const text = JSON.stringify(actual, null, 2) + '\n';
  if (UPDATE || !existsSync(file)) {
    if (!UPDATE) throw new Error(`${file} is missing: run with UPDATE_GOLDEN=1 and check it by eye`);
    writeFileSync(file, text);
    return;
  }
  expect(JSON.parse(text)).toEqual(JSON.parse(readFileSync(file, 'utf8')));
}

const okCases = readdirSync(OK).sort();

describe('Dockerfile golden files (test/fixtures/dockerfiles/ok/*)', () => {
  it('has at least 40 fixtures', () => {
    expect(okCases.length).toBeGreaterThanOrEqual(40);
  });

  it.each(okCases)('%s parses to parsed.json and plans to plan.json', (name) => {
    const text = readFileSync(join(OK, name, 'Dockerfile'), 'utf8');
    const parsed = parseDockerfile(text, { file: 'Dockerfile' });
    golden(join(OK, name, 'parsed.json'), parsed);
    const plan = createPlan(parsed, { buildPlatform: AMD64, targetPlatform: AMD64, buildArgs: { HTTP_PROXY: 'http://proxy:3128' } });
    golden(join(OK, name, 'plan.json'), plan);
  });
});

interface BadCase {
  name: string;
  text: string;
  expected: string[];
  options: { target?: string; buildArgs?: Record<string, string> };
}

/** bad/NAME.Dockerfile fails with every message listed in bad/NAME.expected (one `Dockerfile:LINE: text` per line). */
function badCases(): BadCase[] {
  return readdirSync(BAD)
    .filter((f) => f.endsWith('.Dockerfile'))
    .sort()
    .map((f) => {
      const name = f.slice(0, -'.Dockerfile'.length);
      const lines = readFileSync(join(BAD, `${name}.expected`), 'utf8').split('\n').filter((l) => l.trim() !== '');
      const opts = lines.filter((l) => l.startsWith('# options: ')).map((l) => JSON.parse(l.slice(11)) as BadCase['options'])[0] ?? {};
      return { name, text: readFileSync(join(BAD, f), 'utf8'), expected: lines.filter((l) => !l.startsWith('#')), options: opts };
    });
}

describe('Dockerfile negative cases (test/fixtures/dockerfiles/bad/*)', () => {
  const cases = badCases();
  it('has negative fixtures', () => {
    expect(cases.length).toBeGreaterThanOrEqual(20);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s fails with its located messages', (_n, c) => {
    let err: unknown;
    try {
      createPlan(parseDockerfile(c.text, { file: 'Dockerfile' }), { buildPlatform: AMD64, ...c.options });
    } catch (e) {
      err = e;
    }
    expect(err, 'expected the Dockerfile to fail').toBeInstanceOf(DockerfileErrors);
    const messages = (err as DockerfileErrors).errors.map((e) => e.message);
    expect(messages).toHaveLength(c.expected.length);
    c.expected.forEach((exp, i) => expect(messages[i]).toContain(exp));
    for (const e of (err as DockerfileErrors).errors) expect(e.hint, `${e.message} has a hint`).toBeTruthy();
  });
});
