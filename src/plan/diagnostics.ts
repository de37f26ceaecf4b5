import type { LocationError, Location } from '../dockerfile/index.js';
import type { PlanWarning } from './types.js';

/** Errors and warnings gathered while planning (every error is reported, not only the first). */
export class Diagnostics {
  readonly errors: LocationError[] = [];
  private readonly warnings: PlanWarning[] = [];
  private readonly seen = new Set<string>();

  warn(w: PlanWarning): void {
    const k = `${w.code}|${w.message}|${w.location?.line ?? ''}`;
    if (this.seen.has(k)) return;
    this.seen.add(k);
    this.warnings.push(w);
  }

  /** `UndefinedVar` warnings for variables expansion met unset (unless `declared` says they are ARGs). */
  undefinedVars(loc: Location, unset: Iterable<string>, declared: (n: string) => boolean = () => false): void {
    for (const n of unset) if (!declared(n)) this.warn({ code: 'UndefinedVar', message: `usage of undefined variable '$${n}'`, location: loc });
  }

  list(): PlanWarning[] {
    return [...this.warnings];
  }
}
