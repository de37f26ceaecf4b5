import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ShellLexer, ShellLexError, lexEnv, reversePattern, shellPatternToRegExp } from '../../src/dockerfile/shell-lex.js';

interface Case {
  line: number;
  mode: 'word' | 'words' | 'unset';
  escape: string;
  env: Record<string, string>;
  input: string;
  expected: string;
}

/** Reads test/fixtures/lexer/expand.txt (format described at its top). */
function loadCases(): Case[] {
  const text = readFileSync(new URL('../fixtures/lexer/expand.txt', import.meta.url), 'utf8');
  const cases: Case[] = [];
  let env: Record<string, string> = {};
  let mode: Case['mode'] = 'word';
  let escape = '\\';
  text.split('\n').forEach((raw, i) => {
    if (raw.trim() === '' || raw.startsWith('#')) return;
    if (raw.startsWith('ENV ')) {
      const kv = raw.slice(4);
      const eq = kv.indexOf('=');
      env = { ...env, [kv.slice(0, eq)]: kv.slice(eq + 1) };
      return;
    }
    if (raw === 'RESET') return void (env = {});
    if (raw.startsWith('ESCAPE ')) return void (escape = raw.slice(7));
    if (raw.startsWith('MODE ')) return void (mode = raw.slice(5) as Case['mode']);
    const m = /^(.*) \|(?: (.*))?$/.exec(raw);
    if (!m) throw new Error(`expand.txt:${i + 1}: no " | " separator`);
    cases.push({ line: i + 1, mode, escape, env, input: (m[1] as string).trim(), expected: m[2] ?? '' });
  });
  return cases;
}

const cases = loadCases();

describe('shell-word lexer table (test/fixtures/lexer/expand.txt)', () => {
  it('has at least 150 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(150);
  });

  it.each(cases.map((c) => [`${c.line}: ${c.mode} ${c.input}`, c] as const))('%s', (_name, c) => {
    const lexer = new ShellLexer(c.escape);
    const run = () => lexer.process(c.input, lexEnv(c.env));
    if (c.expected === 'error' || c.expected.startsWith('error: ')) {
      expect(run).toThrow(ShellLexError);
      if (c.expected.startsWith('error: ')) expect(run).toThrow(c.expected.slice(7));
      return;
    }
    const r = run();
    if (c.mode === 'word') expect(r.value).toBe(c.expected);
    else if (c.mode === 'words') expect(r.words).toEqual(c.expected === '' ? [] : c.expected.split(','));
    else expect([...r.unset].sort()).toEqual(c.expected === '' ? [] : c.expected.split(','));
  });
});

describe('lexer helpers', () => {
  it.each([
    ['a\\*c', 'c\\*a'],
    ['ab\\', '\\ba'],
    ['\\\\b', 'b\\\\'],
  ])('reversePattern(%s) keeps escapes in order', (input, expected) => {
    expect(reversePattern(input)).toBe(expected);
  });

  it('converts shell patterns to anchored regexps that escape regex syntax', () => {
    expect(shellPatternToRegExp('a.*', true, true).source).toBe('^a\\..*');
    expect(shellPatternToRegExp('(x)?', false, false).source).toBe('\\(x\\).');
  });

  it('reports the variables it used and the ones it found unset', () => {
    const r = new ShellLexer().process('${A} ${B:-x} $C', lexEnv({ A: '1', C: '' }));
    expect([...r.used].sort()).toEqual(['A', 'C']);
    expect([...r.unset]).toEqual(['B']);
  });

  it('leaves unset references in place with skipUnsetEnv', () => {
    const lexer = new ShellLexer('\\', { skipUnsetEnv: true });
    expect(lexer.expandWord('$A ${B} ${C:-d}', lexEnv({ A: 'a' }))).toBe('a ${B} ${C:-d}');
  });

  it('keeps quotes with rawQuotes and escapes with rawEscapes', () => {
    expect(new ShellLexer('\\', { rawQuotes: true }).expandWord('"a b"')).toBe('"a b"');
    expect(new ShellLexer('\\', { rawEscapes: true }).expandWord('a\\ b')).toBe('a\\ b');
  });
});
