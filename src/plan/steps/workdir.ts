import { posix } from 'node:path';
import type { WorkdirInstruction } from '../../dockerfile/index.js';
import type { WorkdirStep } from '../types.js';
import { commonParts, finish, type StepContext } from './context.js';

/** WORKDIR: relative paths resolve against the current one (base image's, else `/`). */
export function workdirStep(ctx: StepContext, ins: WorkdirInstruction, baseWorkdir: string | undefined): WorkdirStep {
  const st = ctx.state;
  const p = ctx.word(ins.path);
  let relativeToBase: string | undefined;
  let path: string;
  if (posix.isAbsolute(p)) {
    path = posix.normalize(p);
    st.workdirFromUnknownBase = false;
  } else {
    const current = st.workdir ?? baseWorkdir ?? '/';
    path = posix.normalize(posix.join(current, p));
    if (st.workdir === undefined && baseWorkdir === undefined) st.workdirFromUnknownBase = true;
    if (st.workdirFromUnknownBase) relativeToBase = posix.relative('/', path) || '.';
  }
  if (path.length > 1 && path.endsWith('/')) path = path.slice(0, -1);
  st.workdir = path;
  return {
    kind: 'workdir', path, location: ctx.location, instruction: `WORKDIR ${path}`, createdBy: `WORKDIR ${path}`, layer: true,
    ...(relativeToBase !== undefined ? { relativeToBase } : {}),
    ...(st.user !== undefined ? { user: st.user } : {}),
    ...(ctx.onbuild ? { onbuild: true } : {}),
    cache: finish(commonParts(ctx)),
  };
}
