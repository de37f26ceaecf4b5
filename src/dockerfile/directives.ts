import { createRequire } from 'node:module';
import type { DockerfileParser as Parser } from 'dockerfile-ast';
import type { ParserDirectives } from './types.js';

const requireCjs = createRequire(import.meta.url);
let parser: typeof Parser | undefined;
/** dockerfile-ast (~50 ms to load) is loaded only for a Dockerfile that may have directives. */
const DockerfileParser = (): typeof Parser =>
  (parser ??= (requireCjs('dockerfile-ast') as { DockerfileParser: typeof Parser }).DockerfileParser);

const KNOWN = new Set(['syntax', 'escape', 'check']);

export interface DirectiveProblem {
  line: number;
  message: string;
}

/**
 * Parser directives (`# syntax=`, `# escape=`, `# check=`), read with
 * dockerfile-ast. As BuildKit: they must be the first lines, one per line,
 * each at most once; the first unknown one or any other line ends them.
 */
export function readDirectives(text: string): { directives: ParserDirectives; problems: DirectiveProblem[] } {
  const directives: ParserDirectives = { escape: '\\' };
  const problems: DirectiveProblem[] = [];
  const seen = new Set<string>();
  let expectLine = 0;
  // Directives can only be on the leading comment lines: give dockerfile-ast just those.
  const head = /^(?:\ufeff)?(?:[ \t]*#[^\n]*\n)*/.exec(text)?.[0] ?? '';
  // The first directive must be on line 1, as `# name=value`: without a '=' there, there are none.
  if (!/^(?:\ufeff)?[ \t]*#[^\n]*=/.test(head)) return { directives, problems };
  for (const d of DockerfileParser().parse(head).getDirectives()) {
    const line = d.getRange().start.line;
    const name = d.getName().toLowerCase();
    if (line !== expectLine || !KNOWN.has(name)) break;
    expectLine++;
    const value = d.getValue().trim();
    if (seen.has(name)) {
      problems.push({ line: line + 1, message: `only one ${name} parser directive can be used` });
      continue;
    }
    seen.add(name);
    if (name === 'escape') {
      if (value !== '`' && value !== '\\') problems.push({ line: line + 1, message: `invalid escape token '${value}' does not match \` or \\` });
      else directives.escape = value;
    } else if (name === 'syntax') directives.syntax = value;
    else directives.check = value;
  }
  return { directives, problems };
}
