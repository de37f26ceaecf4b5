import type { ArgInstruction } from '../../dockerfile/index.js';
import { hashValue } from '../cache-key.js';
import type { ConfigStep } from '../types.js';
import { commonParts, finish, type StepContext } from './context.js';

/**
 * ARG inside a stage: a --build-arg wins; `ARG NAME` alone takes the global
 * value (global ARG or automatic platform ARG) if any; else the default,
 * expanded in the stage; else the name is declared but unset.
 */
export function argStep(ctx: StepContext, ins: ArgInstruction, globals: ReadonlyMap<string, string>, buildArgs: Record<string, string>): ConfigStep {
  const shown: string[] = [];
  const hashed: string[] = [];
  for (const a of ins.args) {
    let value: string | undefined;
    if (Object.prototype.hasOwnProperty.call(buildArgs, a.key)) value = buildArgs[a.key];
    else if (a.value !== undefined) value = ctx.word(a.value);
    else if (globals.has(a.key)) value = globals.get(a.key);
    ctx.state.declare(a.key, value);
    shown.push(value === undefined ? a.key : `${a.key}=${value}`);
    hashed.push(value === undefined ? a.key : `${a.key}=${hashValue(value)}`);
  }
  return {
    kind: 'config',
    change: { op: 'arg', names: ins.args.map((a) => a.key) },
    location: ctx.location,
    instruction: `ARG ${shown.join(' ')}`,
    createdBy: `ARG ${shown.join(' ')}`,
    layer: false,
    ...(ctx.onbuild ? { onbuild: true } : {}),
    cache: finish(commonParts(ctx, [{ name: 'values', value: hashed.join(' ') }])),
  };
}
