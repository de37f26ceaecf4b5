/**
 * Base class of every error slipway shows a user. `code` is stable (scripts may
 * match on it); `hint` is one line saying what to do about it.
 */
export class SlipwayError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  /** Process exit code the CLI uses for this error. */
  readonly exitCode: number;

  constructor(code: string, message: string, opts: { hint?: string; cause?: unknown; exitCode?: number } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = opts.hint;
    this.exitCode = opts.exitCode ?? 1;
  }
}

/** A blob's bytes did not hash to the digest that names it. */
export class DigestMismatchError extends SlipwayError {
  constructor(readonly expected: string, readonly actual: string, where: string) {
    super('DIGEST_MISMATCH', `digest mismatch for ${where}: expected ${expected}, got ${actual}`, {
      hint: 'the content is corrupt or was altered in transit; it was discarded',
    });
  }
}

/** Size of a blob differs from its descriptor. */
export class SizeMismatchError extends SlipwayError {
  constructor(readonly expected: number, readonly actual: number, where: string) {
    super('SIZE_MISMATCH', `size mismatch for ${where}: expected ${expected} bytes, got ${actual}`, {
      hint: 'the content is truncated or corrupt; it was discarded',
    });
  }
}

export class InvalidReferenceError extends SlipwayError {
  constructor(ref: string, why: string) {
    super('INVALID_REFERENCE', `invalid image reference "${ref}": ${why}`, {
      hint: 'use [registry[:port]/]repository[:tag][@sha256:<64 hex>], lowercase repository',
      exitCode: 2,
    });
  }
}

export class UsageError extends SlipwayError {
  constructor(message: string, hint?: string) {
    super('USAGE', message, { exitCode: 2, ...(hint === undefined ? {} : { hint }) });
  }
}

/** Wraps a cause with a verb-ing prefix, buildah style: `pulling x: <cause>`. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
