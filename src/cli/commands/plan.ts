import type { Command } from '../command.js';
import { list, str } from '../command.js';
import { DockerfileErrors, UsageError, parsePlatform, planBuild } from '../../index.js';

/** `--build-arg K=V` or `--build-arg K` (value from the environment; skipped when unset there, as docker does). */
function buildArgs(values: readonly string[], env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const eq = v.indexOf('=');
    const key = eq < 0 ? v : v.slice(0, eq);
    if (key === '') throw new UsageError(`--build-arg: empty name in "${v}"`, 'use --build-arg NAME=VALUE or --build-arg NAME');
    if (eq >= 0) out[key] = v.slice(eq + 1);
    else if (env[key] !== undefined) out[key] = env[key] as string;
  }
  return out;
}

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const c of stdin) s += typeof c === 'string' ? c : (c as Buffer).toString('utf8');
  return s;
}

export const planCommand: Command = {
  name: 'plan',
  usage: '[-f Dockerfile] [--target T] [--build-arg K=V|K ...] [--platform P] CONTEXT',
  details: 'Parses the Dockerfile, applies ARG/ENV expansion and .dockerignore, hashes the context files COPY/ADD read,\nand prints the plan. Errors are printed one per line as Dockerfile:LINE: message.',
  options: {
    file: { type: 'string', short: 'f', value: 'PATH', description: 'Dockerfile (default CONTEXT/Dockerfile; - reads stdin)' },
    target: { type: 'string', value: 'STAGE', description: 'stage to build (default the last)' },
    'build-arg': { type: 'string', multiple: true, value: 'K=V', description: 'build argument (repeatable; K alone takes it from the environment)' },
    platform: { type: 'string', value: 'OS/ARCH', description: 'target platform (TARGETPLATFORM); default the host' },
    'no-hash': { type: 'boolean', description: 'do not hash build-context files (keys of COPY steps stay pending)' },
  },
  args: { min: 1, max: 1 },
  async run(ctx) {
    const context = ctx.positionals[0] as string;
    const file = str(ctx, 'file');
    const platform = str(ctx, 'platform');
    const target = str(ctx, 'target');
    try {
      const text = file === '-' ? await readStdin(ctx.stdin) : undefined;
      const { plan, dockerfile } = await planBuild({
        context,
        ...(file !== undefined && file !== '-' ? { file } : {}),
        ...(text !== undefined ? { text } : {}),
        ...(target !== undefined ? { target } : {}),
        ...(platform !== undefined ? { targetPlatform: parsePlatform(platform) } : {}),
        buildArgs: buildArgs(list(ctx, 'build-arg'), ctx.env),
        resolveKeys: ctx.values['no-hash'] !== true,
      });
      const warnings = [...dockerfile.warnings, ...plan.warnings];
      for (const w of warnings) ctx.log(`warning: ${w.location ? `${w.location.file}:${w.location.line}: ` : ''}${w.message}`);
      for (const st of plan.stages) {
        for (const step of st.steps) {
          ctx.log(`${step.location.file}:${step.location.line}: ${step.cache.key ?? 'pending'} <- ${step.cache.parts.map((p) => `${p.name}=${p.value}`).join(' | ')}`);
        }
      }
      ctx.stdout.write(JSON.stringify({ ...plan, warnings }, null, 2) + '\n');
      return 0;
    } catch (e) {
      if (e instanceof DockerfileErrors) {
        for (const err of e.errors) {
          ctx.stderr.write(`${err.message}\n`);
          if (err.hint) ctx.stderr.write(`  hint: ${err.hint}\n`);
        }
        return 1;
      }
      throw e;
    }
  },
};
