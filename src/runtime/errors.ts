import { SlipwayError } from '../oci/index.js';

/** A RUN step's USER names a user or group the rootfs does not define. */
export class UnknownUserError extends SlipwayError {
  constructor(what: string, location: string, file: string) {
    super('UNKNOWN_USER', `${location}: unable to find ${what} in the image's ${file}`, {
      hint: `create it in an earlier RUN (e.g. useradd), or use a numeric uid[:gid]`,
    });
  }
}

/** A namespace helper (unshare, newuidmap, runc ...) is missing or failed. */
export class RuntimeSetupError extends SlipwayError {
  constructor(message: string, hint: string, cause?: unknown) {
    super('RUNTIME_SETUP', message, { hint, ...(cause === undefined ? {} : { cause }) });
  }
}

/** The step was cancelled through its AbortSignal. */
export class StepCancelledError extends SlipwayError {
  constructor(what: string) {
    super('STEP_CANCELLED', `${what}: cancelled`, { hint: 'the step was stopped; nothing was kept', exitCode: 130 });
  }
}
