import type { LexEnv } from '../dockerfile/index.js';

/** What a stage has set so far while it is planned (copied into each step). */
export class StageState {
  /** ENV values (base image's first, then the Dockerfile's), last wins. */
  readonly env = new Map<string, string>();
  /** ENV set by the Dockerfile (this stage and parent stages), in order. */
  readonly dockerfileEnv: [string, string][] = [];
  /** ARG values visible now (declared in this stage or inherited from a parent stage). */
  readonly args = new Map<string, string>();
  /** ARG names declared (with or without value), in declaration order. */
  readonly declared: string[] = [];
  workdir: string | undefined;
  /** True when `workdir` is only known relative to the base image's (no base image info). */
  workdirFromUnknownBase = false;
  user: string | undefined;
  shell: string[] | undefined;

  /** Expansion sees ENV first (ENV wins over ARG of the same name), then ARG. */
  lexEnv(): LexEnv {
    return { get: (k) => this.env.get(k) ?? this.args.get(k) };
  }

  setEnv(key: string, value: string): void {
    this.env.set(key, value);
    this.dockerfileEnv.push([key, value]);
  }

  declare(key: string, value: string | undefined): void {
    if (!this.declared.includes(key)) this.declared.push(key);
    if (value !== undefined) this.args.set(key, value);
  }

  clone(): StageState {
    const s = new StageState();
    for (const [k, v] of this.env) s.env.set(k, v);
    s.dockerfileEnv.push(...this.dockerfileEnv);
    for (const [k, v] of this.args) s.args.set(k, v);
    s.declared.push(...this.declared);
    s.workdir = this.workdir;
    s.workdirFromUnknownBase = this.workdirFromUnknownBase;
    s.user = this.user;
    s.shell = this.shell ? [...this.shell] : undefined;
    return s;
  }

  /** ENV entries as `K=V`, deduplicated (last wins), in first-set order. */
  envList(): string[] {
    const m = new Map<string, string>();
    for (const [k, v] of this.dockerfileEnv) m.set(k, v);
    return [...m].map(([k, v]) => `${k}=${v}`);
  }

  /** ARG values RUN sees, leaving out names ENV sets (ENV wins). */
  argList(): string[] {
    const out: string[] = [];
    for (const k of this.declared) {
      const v = this.args.get(k);
      if (v !== undefined && !this.env.has(k)) out.push(`${k}=${v}`);
    }
    return out;
  }
}
