import { posix } from 'node:path';
import type { WorkdirStep } from '../../plan/types.js';
import type { ExecContext, StageState } from '../context.js';
import { locationOf } from '../context.js';
import { resolveWorkdir } from '../metadata.js';
import { resolveChown } from '../copy/chown.js';
import type { LayerEntry } from '../copy/entries.js';
import { commitEntries } from '../layer-commit.js';

/** The absolute directory a WORKDIR step sets, given the config it applies to. */
export function workdirPath(step: WorkdirStep, current: string | undefined): string {
  return step.relativeToBase !== undefined ? resolveWorkdir(current, step.relativeToBase) : step.path;
}

/**
 * WORKDIR: sets the config and, as BuildKit does, creates the directory (and
 * missing parents, owned by the USER in force) in a layer of its own; when it
 * exists already no layer is made.
 */
export async function runWorkdirStep(ctx: ExecContext, st: StageState, step: WorkdirStep): Promise<void> {
  const wd = workdirPath(step, st.image.config.config?.WorkingDir);
  st.image = st.image.withConfig((c) => {
    c.config = { ...(c.config ?? {}), WorkingDir: wd };
    return c;
  });
  const history = { created: ctx.created, created_by: `WORKDIR ${wd}`, comment: 'buildkit.dockerfile.v0' };
  const fs = ctx.index.view(st.image.layers);
  const missing: string[] = [];
  for (let d = wd; d !== '/' && d !== '.'; d = posix.dirname(d)) {
    if ((await fs.stat(d)) !== undefined) break;
    missing.unshift(d);
  }
  if (missing.length === 0) {
    st.image = st.image.appendEmptyHistory(history);
    return;
  }
  const user = step.user ?? st.image.config.config?.User;
  const owner = user ? await resolveChown(user, fs, locationOf(ctx, step)) : { uid: 0, gid: 0 };
  const entries: LayerEntry[] = missing.map((d) => ({ path: d.slice(1), type: 'dir', mode: 0o755, uid: owner.uid, gid: owner.gid, mtime: ctx.clamp ?? ctx.now, size: 0 }));
  const layer = await commitEntries(ctx, entries);
  st.image = layer ? st.image.append(layer, history) : st.image.appendEmptyHistory(history);
}
