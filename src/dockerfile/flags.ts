import { didYouMean } from './suggest.js';

type FlagType = 'bool' | 'string' | 'strings';

/** A flag problem; the parser turns it into a LocationError. */
export class FlagError extends Error {}

/**
 * Builder flags of one instruction (`--chown=1:1`), with BuildKit's rules:
 * unknown flags (with a suggestion), duplicates (except repeatable ones),
 * missing values, booleans as `--link`, `--link=true|false`.
 */
export class InstructionFlags {
  private readonly defs = new Map<string, FlagType>();
  private readonly values = new Map<string, string>();
  private readonly lists = new Map<string, string[]>();

  constructor(private readonly args: readonly string[]) {}

  bool(name: string): this {
    this.defs.set(name, 'bool');
    return this;
  }

  string(name: string): this {
    this.defs.set(name, 'string');
    return this;
  }

  strings(name: string): this {
    this.defs.set(name, 'strings');
    return this;
  }

  /** Validates every flag given; throws FlagError on the first problem. */
  parse(): this {
    for (const a of this.args) {
      if (a === '--') return this;
      if (!a.startsWith('--')) throw new FlagError(`arg should start with -- : ${a}`);
      const eq = a.indexOf('=');
      const flagName = eq < 0 ? a : a.slice(0, eq);
      const value = eq < 0 ? undefined : a.slice(eq + 1);
      const name = flagName.slice(2);
      const type = this.defs.get(name);
      if (type === undefined) {
        const known = [...this.defs.keys()];
        const hint = didYouMean(name, known);
        throw new FlagError(`unknown flag: ${flagName}${hint.replace(/did you mean (\S+)\?/, 'did you mean --$1?')}`);
      }
      if (type !== 'strings' && (this.values.has(name))) throw new FlagError(`duplicate flag specified: ${flagName}`);
      if (type === 'bool') {
        if (value === '') throw new FlagError(`missing a value on flag: ${flagName}`);
        const v = (value ?? 'true').toLowerCase();
        if (v !== 'true' && v !== 'false') throw new FlagError(`expecting boolean value for flag ${flagName}, not: ${value}`);
        this.values.set(name, v);
      } else if (value === undefined) {
        throw new FlagError(`missing a value on flag: ${flagName}`);
      } else if (type === 'string') {
        this.values.set(name, value);
      } else {
        this.lists.set(name, [...(this.lists.get(name) ?? []), value]);
      }
    }
    return this;
  }

  get(name: string): string | undefined {
    return this.values.get(name);
  }

  isTrue(name: string): boolean {
    return this.values.get(name) === 'true';
  }

  /** Boolean flag: undefined when absent. */
  optionalBool(name: string): boolean | undefined {
    const v = this.values.get(name);
    return v === undefined ? undefined : v === 'true';
  }

  list(name: string): string[] {
    return this.lists.get(name) ?? [];
  }
}
