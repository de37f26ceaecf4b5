import type { ConfigStep } from '../../plan/types.js';
import type { ExecContext, StageState } from '../context.js';
import { applyMetadata } from '../metadata.js';

/**
 * ENV, LABEL, EXPOSE, USER, VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL,
 * HEALTHCHECK, ONBUILD, ARG, MAINTAINER: config + history, no layer. The
 * history text is the planner's (it knows the values ARG took); MAINTAINER
 * also sets the config's author, as BuildKit does. `created` is the history
 * time (the cached one on a rebuild, so the image stays the same).
 */
export async function runConfigStep(ctx: ExecContext, st: StageState, step: ConfigStep, created: string = ctx.created): Promise<void> {
  st.image = st.image.withConfig((c) => {
    const r = applyMetadata(c, step.change, st.meta, created);
    const h = r.config.history ?? [];
    const added = h.length > (c.history?.length ?? 0) ? h[h.length - 1] : undefined;
    if (added && step.createdBy) added.created_by = step.createdBy;
    if (step.createdBy.startsWith('MAINTAINER ')) r.config.author = step.createdBy.slice('MAINTAINER '.length);
    return r.config;
  });
}
