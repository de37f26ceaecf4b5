import { DockerfileErrors, LocationError } from './errors.js';
import { readDirectives } from './directives.js';
import { InstructionError, mayHaveHeredocs, parseInstruction } from './instructions.js';
import { scanLogicalLines } from './scanner.js';
import type { DockerfileWarning, Instruction, Location, ParsedDockerfile } from './types.js';
import { heredocsOfLine } from './words.js';

export interface ParseOptions {
  /** Name used in locations and messages (`Dockerfile`, `docker/app.Dockerfile`). Default `Dockerfile`. */
  file?: string;
}

/**
 * Parses Dockerfile text into typed instructions. dockerfile-ast reads the
 * parser directives; logical lines, flags and arguments follow BuildKit's
 * parser rules. Every error in the file is collected; if there is any, a
 * DockerfileErrors (carrying each LocationError) is thrown.
 */
export function parseDockerfile(text: string, options: ParseOptions = {}): ParsedDockerfile {
  const file = options.file ?? 'Dockerfile';
  const errors: LocationError[] = [];
  const warnings: DockerfileWarning[] = [];
  const { directives, problems } = readDirectives(text);
  for (const p of problems) {
    errors.push(new LocationError({ file, line: p.line, column: 1, endLine: p.line }, p.message, 'keep one "# escape=\\" or "# escape=`" line at the very top'));
  }
  const escape = directives.escape;
  const lines = scanLogicalLines(text, escape, (line) => (mayHaveHeredocs(line, escape) ? heredocsOfLine(line) : []));
  const instructions: Instruction[] = [];
  let seenFrom = false;
  for (const l of lines) {
    const location: Location = { file, line: l.startLine, column: l.column, endLine: l.endLine };
    if (l.emptyContinuations.length > 0) {
      warnings.push({ code: 'NoEmptyContinuation', message: `empty continuation line(s) at ${l.emptyContinuations.join(', ')} (these will become errors)`, location });
    }
    if (l.unterminated !== undefined) {
      errors.push(new LocationError(location, `unterminated heredoc ${l.unterminated}`, `end the heredoc with a line holding only ${l.unterminated}`));
      continue;
    }
    let ins: Instruction;
    try {
      ins = parseInstruction({ line: l.text, escape, heredocs: l.heredocs, location });
    } catch (e) {
      if (e instanceof InstructionError) {
        errors.push(new LocationError(location, e.message, e.hint, e.code));
        continue;
      }
      throw e;
    }
    if (ins.kind === 'from') seenFrom = true;
    else if (!seenFrom && ins.kind !== 'arg') {
      errors.push(new LocationError(location, `${ins.keyword.toUpperCase()} before the first FROM: no build stage in current context`, 'start the Dockerfile with FROM (only ARG may come before it)'));
      continue;
    }
    if (ins.kind === 'maintainer') {
      warnings.push({ code: 'MaintainerDeprecated', message: 'MAINTAINER is deprecated, use LABEL maintainer=...', location });
    }
    if (ins.kind === 'env' && ins.legacy) {
      warnings.push({ code: 'LegacyKeyValueFormat', message: '"ENV key value" should be used as "ENV key=value"', location });
    }
    instructions.push(ins);
  }
  if (errors.length === 0 && !instructions.some((i) => i.kind === 'from')) {
    const line = Math.max(1, text.replace(/\n+$/, '').split('\n').length);
    errors.push(new LocationError({ file, line, column: 1, endLine: line }, lines.length === 0 ? 'file with no instructions' : 'dockerfile contains no stages to build', 'add a FROM line'));
  }
  if (errors.length > 0) throw new DockerfileErrors(file, errors);
  return { file, directives, instructions, warnings };
}
