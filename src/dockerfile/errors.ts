import { SlipwayError } from '../oci/errors.js';
import type { Location } from './types.js';

/** `Dockerfile:12` (the file's base name as given, and the first line). */
export function formatLocation(loc: Location): string {
  return `${loc.file}:${loc.line}`;
}

/**
 * An error at a place in a Dockerfile. The message starts with `FILE:LINE: `;
 * `hint` says what to do. Codes: DOCKERFILE_PARSE (syntax, flags, arguments),
 * DOCKERFILE_UNKNOWN_INSTRUCTION, DOCKERFILE_EXPANSION (a word could not be
 * expanded), DOCKERFILE_STAGE (unknown stage, cycle, bad target).
 */
export class LocationError extends SlipwayError {
  /** The message without the location prefix. */
  readonly detail: string;

  constructor(readonly location: Location, message: string, hint: string, code = 'DOCKERFILE_PARSE', cause?: unknown) {
    super(code, `${formatLocation(location)}: ${message}`, { hint, ...(cause === undefined ? {} : { cause }) });
    this.detail = message;
  }
}

/** Several located errors at once (a Dockerfile reports all its errors, not only the first). */
export class DockerfileErrors extends SlipwayError {
  constructor(readonly file: string, readonly errors: LocationError[]) {
    const first = errors[0];
    super(
      first?.code ?? 'DOCKERFILE_PARSE',
      errors.length === 1 && first ? first.message : `${file}: ${errors.length} errors:\n${errors.map((e) => e.message).join('\n')}`,
      { hint: errors.length === 1 && first ? first.hint ?? 'fix the Dockerfile' : 'fix each line listed above' },
    );
  }
}
