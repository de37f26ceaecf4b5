/** PATH a RUN step gets when the image sets none (Docker's default). */
export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface StepEnvInput {
  /** Image config Env (KEY=VALUE), ENV instructions so far included. */
  imageEnv: readonly string[];
  /** Build ARGs in scope: visible to the step, not persisted; ENV wins over them. */
  args?: Readonly<Record<string, string>>;
  hostname: string;
  /** The user's passwd home (HOME when the image sets none). */
  home: string;
}

/** The environment a RUN step sees, in Docker's precedence. */
export function stepEnvironment(input: StepEnvInput): string[] {
  const env = new Map<string, string>();
  env.set('PATH', DEFAULT_PATH);
  env.set('HOSTNAME', input.hostname);
  for (const [k, v] of Object.entries(input.args ?? {})) env.set(k, v);
  for (const kv of input.imageEnv) {
    const i = kv.indexOf('=');
    if (i <= 0) continue;
    env.set(kv.slice(0, i), kv.slice(i + 1));
  }
  if (!env.has('HOME')) env.set('HOME', input.home);
  return [...env].map(([k, v]) => `${k}=${v}`);
}
