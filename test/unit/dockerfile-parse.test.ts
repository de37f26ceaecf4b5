import { describe, expect, it } from 'vitest';
import { DockerfileErrors, LocationError, parseDockerfile, type Instruction } from '../../src/dockerfile/index.js';
import { SlipwayError } from '../../src/oci/errors.js';
import { extractBuilderFlags, heredocsOfLine, parseJsonArray, parseQuotedWords } from '../../src/dockerfile/words.js';

const parse = (text: string): Instruction[] => parseDockerfile(text).instructions;

describe('logical lines (BuildKit rules)', () => {
  it.each([
    ['an escaped escape at the end does not continue', 'FROM a\nRUN echo \\\\\nRUN x\n', 3],
    ['a trailing escape followed by spaces continues', 'FROM a\nRUN echo \\   \n  more\n', 2],
    ['comment lines inside a continuation are dropped', 'FROM a\nRUN a \\\n# c\n  # indented c\n b\n', 2],
    ['empty lines inside a continuation are skipped', 'FROM a\nRUN a \\\n\n\n b\n', 2],
    ['a backtick escape directive changes the continuation character', '# escape=`\nFROM a\nRUN a `\n b\nRUN c \\\n', 3],
  ])('%s', (_name, text, count) => {
    expect(parse(text)).toHaveLength(count);
  });

  it('locates each instruction at its first line and keyword column, spanning continuations and heredocs', () => {
    const ins = parse('FROM a\n\n   RUN a \\\n b\nCOPY <<EOF /x\nbody\nEOF\n');
    expect(ins.map((i) => [i.location.line, i.location.column, i.location.endLine])).toEqual([[1, 1, 1], [3, 4, 4], [5, 1, 7]]);
  });

  it('warns about empty continuation lines', () => {
    expect(parseDockerfile('FROM a\nRUN a \\\n\n b\n').warnings.map((w) => w.code)).toEqual(['NoEmptyContinuation']);
  });
});

describe('heredocs', () => {
  it.each([
    ['<<EOF', [['EOF', true, false, 0]]],
    ['<<-EOF', [['EOF', true, true, 0]]],
    ['<<"EOF"', [['EOF', false, false, 0]]],
    ["<<'E'OF", [['EOF', false, false, 0]]],
    ['3<<EOF cat', [['EOF', true, false, 3]]],
    ['<< EOF', [['EOF', true, false, 0]]],
    ['cat<<EOF', []],
    ['echo "<<EOF"', []],
    ['<<A <<B', [['A', true, false, 0], ['B', true, false, 0]]],
  ])('markers of %j', (line, expected) => {
    expect(heredocsOfLine(line).map((h) => [h.name, h.expand, h.chomp, h.fd])).toEqual(expected);
  });

  it('are not read for exec-form RUN or for other instructions', () => {
    const ins = parse('FROM a\nRUN ["cat", "<<EOF"]\nENV X=<<EOF\nLABEL y=1\n');
    expect(ins.map((i) => i.kind)).toEqual(['from', 'run', 'env', 'label']);
  });

  it('strip leading tabs for <<- and keep the body literal otherwise', () => {
    const run = parse('FROM a\nRUN <<-EOF\n\t\tx\n\t  y\n\tEOF\n')[1];
    expect(run?.kind === 'run' && run.heredocs[0]?.content).toBe('x\n  y\n');
  });
});

describe('words and flags', () => {
  it('extracts builder flags with quotes and escapes, stopping at the first argument or --', () => {
    expect(extractBuilderFlags('--a=1 --b="x y" --c=\\" rest --d', '\\')).toEqual({ flags: ['--a=1', '--b=x y', '--c="'], rest: 'rest --d' });
    expect(extractBuilderFlags('--a -- --b', '\\')).toEqual({ flags: ['--a'], rest: ' --b' });
  });

  it('keeps quotes in ENV/LABEL/ARG words for the lexer', () => {
    expect(parseQuotedWords('a="b c" d=\'e\' f=g\\ h', '\\')).toEqual(['a="b c"', "d='e'", 'f=g\\ h']);
  });

  it.each([
    ['["a", "b"]', ['a', 'b']],
    ['  ["a"]', ['a']],
    ['[a]', undefined],
    ['["a",]', undefined],
    ['"a"', undefined],
    ['{"a": 1}', undefined],
  ])('JSON form of %s', (text, expected) => {
    expect(parseJsonArray(text)).toEqual(expected);
  });

  it('rejects non-string JSON arrays instead of falling back to shell form', () => {
    expect(() => parseJsonArray('["a", 1]')).toThrow('arrays must be comprised of strings only');
  });
});

describe('errors', () => {
  it('collects every error of the file as LocationErrors with hints', () => {
    try {
      parseDockerfile('FROM a\nRUNN x\nCOPY a\nWORKDIR\n', { file: 'app.Dockerfile' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(DockerfileErrors);
      expect(e).toBeInstanceOf(SlipwayError);
      const errs = (e as DockerfileErrors).errors;
      expect(errs.map((x) => x.message)).toEqual([
        'app.Dockerfile:2: unknown instruction: RUNN (did you mean RUN?)',
        'app.Dockerfile:3: COPY requires at least two arguments, but only one was provided. Destination could not be determined',
        'app.Dockerfile:4: WORKDIR requires exactly one argument',
      ]);
      expect(errs.map((x) => x.code)).toEqual(['DOCKERFILE_UNKNOWN_INSTRUCTION', 'DOCKERFILE_PARSE', 'DOCKERFILE_PARSE']);
      for (const x of errs) {
        expect(x).toBeInstanceOf(LocationError);
        expect(x.hint).toMatch(/\S/);
      }
      expect((e as DockerfileErrors).message.split('\n')[0]).toBe('app.Dockerfile: 3 errors:');
    }
  });

  it('parses MAINTAINER with a deprecation warning and ONBUILD with its trigger', () => {
    const df = parseDockerfile('FROM a\nMAINTAINER me\nONBUILD COPY --from=x a b\n');
    expect(df.warnings.map((w) => w.code)).toEqual(['MaintainerDeprecated']);
    const ob = df.instructions[2];
    expect(ob?.kind === 'onbuild' && ob.trigger.kind).toBe('copy');
  });
});
