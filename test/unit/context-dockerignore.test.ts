import { describe, expect, it } from 'vitest';
import { IgnoreMatcher, parseDockerignore } from '../../src/context/index.js';

/** [patterns (one per line), path, ignored?] */
const TABLE: [string, string, boolean][] = [
  ['node_modules', 'node_modules', true],
  ['node_modules', 'node_modules/a/b.js', true],
  ['node_modules', 'src/node_modules', false],
  ['/node_modules', 'node_modules/x', true],
  ['./build/', 'build/out.o', true],
  ['*.log', 'app.log', true],
  ['*.log', 'logs/app.log', false],
  ['**/*.log', 'logs/deep/app.log', true],
  ['**/*.log', 'app.log', true],
  ['logs/**', 'logs/a/b', true],
  ['**/tmp', 'a/b/tmp/c', true],
  ['a/*/c', 'a/b/c', true],
  ['a/*/c', 'a/b/x/c', false],
  ['a?c', 'abc', true],
  ['a?c', 'a/c', false],
  ['[abc].txt', 'b.txt', true],
  ['[^abc].txt', 'b.txt', false],
  ['*\n!keep.md', 'keep.md', false],
  ['*\n!keep.md', 'other.md', true],
  ['docs\n!docs/keep.md', 'docs/keep.md', false],
  ['docs\n!docs/keep.md', 'docs/other.md', true],
  ['!a.txt\n*.txt', 'a.txt', true],
  ['*.txt\n!a.txt\na.txt', 'a.txt', true],
  ['# comment\n\n   spaced.txt   ', 'spaced.txt', true],
  ['# comment', '# comment', false],
  ['../outside', 'outside', true],
  ['dir/../file', 'file', true],
  ['.git', '.git/HEAD', true],
  ['*', '.hidden', true],
  ['{a,b}', 'a', false],
  ['{a,b}', '{a,b}', true],
  ['Dockerfile', 'Dockerfile', true],
  ['x\\*', 'x*', true],
  ['x\\*', 'xy', false],
];

describe('.dockerignore matching (docker semantics)', () => {
  it.each(TABLE)('patterns %j: %s ignored=%s', (patterns, path, ignored) => {
    expect(new IgnoreMatcher(parseDockerignore(patterns)).ignores(path)).toBe(ignored);
  });

  it('never ignores the context root', () => {
    expect(new IgnoreMatcher(parseDockerignore('*\n.')).ignores('')).toBe(false);
  });

  it('rejects a bare "!" with the file and line', () => {
    expect(() => parseDockerignore('a\n!\n', '.dockerignore')).toThrow('.dockerignore:2: illegal exclusion pattern: "!"');
  });

  it('cleans patterns the way docker does', () => {
    expect(parseDockerignore('/a/b/\n./c\n!d//e\n').map((p) => [p.pattern, p.exclusion])).toEqual([
      ['a/b', false],
      ['c', false],
      ['d/e', true],
    ]);
  });
});
