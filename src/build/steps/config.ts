import type { ConfigStep } from '../../plan/types.js';
import type { BuildContext, StageState } from '../context.js';
import { applyMetadata } from '../metadata.js';

/** ENV, LABEL, EXPOSE, USER, VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, ARG: config + history, no layer. */
export async function runConfigStep(ctx: BuildContext, st: StageState, step: ConfigStep): Promise<void> {
  let history: string | undefined;
  st.image = st.image.withConfig((c) => {
    const r = applyMetadata(c, step.change, st.meta, ctx.created);
    const h = r.config.history ?? [];
    history = h.length > (c.history?.length ?? 0) ? h[h.length - 1]?.created_by : undefined;
    if (step.change.op === 'arg' && history !== undefined) {
      // the planner knows the values ARG took; it writes `ARG K=V`
      (h[h.length - 1] as { created_by?: string }).created_by = step.createdBy || `ARG ${step.change.names.join(' ')}`;
    }
    return r.config;
  });
}
