import { describe, expect, it } from 'vitest';
import { parseDockerfile } from '../../src/dockerfile/index.js';
import { createPlan } from '../../src/plan/create-plan.js';
import { assertRunStepsPossible, assessBuildMode, RunNotPossibleError, runStepLocations, type EnvironmentFacts } from '../../src/runtime/index.js';

const LOCKED: EnvironmentFacts = {
  uid: 1001,
  user: 'ci',
  userNamespace: { ok: false, error: 'unshare failed: Operation not permitted' },
  mountNamespace: undefined,
  maxUserNamespaces: 31000,
  apparmorRestrictUserns: undefined,
  unprivilegedUsernsClone: undefined,
  seccomp: 2,
  capSysAdmin: false,
  inUserNamespace: false,
  subuidCount: 0,
  subgidCount: 0,
  newidmap: true,
  containerMarkers: ['$KUBERNETES_SERVICE_HOST is set (Kubernetes pod)'],
  rootFsType: 'overlay',
};

const WITH_RUN = `FROM busybox AS build
COPY a /a
RUN echo one > /one
RUN --mount=type=cache,target=/c \\
    echo two > /two

FROM scratch
COPY --from=build /one /one
`;

function planOf(text: string, target?: string) {
  return createPlan(parseDockerfile(text, { file: 'Dockerfile' }), target ? { target } : {});
}

describe('mode 3: RUN steps cannot run', () => {
  it('fails with one located line per RUN step, naming the reason and the exact fix', () => {
    const mode = assessBuildMode(LOCKED);
    expect(mode.mode).toBe(3);
    let err: unknown;
    try {
      assertRunStepsPossible(mode, planOf(WITH_RUN), 'Dockerfile');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RunNotPossibleError);
    const lines = (err as RunNotPossibleError).message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^Dockerfile:3: RUN needs a user namespace or root in a container: a seccomp filter .* refuses unshare\(CLONE_NEWUSER\).*; fix: Kubernetes: set securityContext\.seccompProfile\.type: Unconfined/);
    expect(lines[1]).toMatch(/^Dockerfile:4: RUN needs a user namespace or root in a container: /);
    expect((err as RunNotPossibleError).code).toBe('RUN_NOT_POSSIBLE');
    expect((err as RunNotPossibleError).hint).toContain('runAsUser: 0');
  });

  it('a Dockerfile without RUN passes the check', () => {
    const mode = assessBuildMode(LOCKED);
    expect(() => assertRunStepsPossible(mode, planOf('FROM scratch\nCOPY a /a\nENV X=1\nLABEL a=b\n'), 'Dockerfile')).not.toThrow();
  });

  it('only RUN steps of stages the target needs count', () => {
    const text = 'FROM busybox AS tools\nRUN echo hi\n\nFROM scratch AS final\nCOPY a /a\n';
    expect(runStepLocations(planOf(text), 'Dockerfile')).toEqual([]);
    expect(runStepLocations(planOf(text, 'tools'), 'Dockerfile')).toEqual(['Dockerfile:2']);
  });

  it('root in a container that does not look disposable is told about the in-place switch', () => {
    const mode = assessBuildMode({ ...LOCKED, uid: 0, user: 'root', containerMarkers: [], mountNamespace: { ok: false, error: 'unshare failed: Operation not permitted' } });
    expect(mode.mode).toBe(3);
    expect(() => assertRunStepsPossible(mode, planOf(WITH_RUN), 'Dockerfile')).toThrow(/^Dockerfile:3: RUN needs a user namespace or root in a container: this does not look like a disposable container.*fix: .*--force-in-place/);
  });

  it('modes 1 and 2 never refuse RUN', () => {
    expect(() => assertRunStepsPossible(assessBuildMode({ ...LOCKED, userNamespace: { ok: true } }), planOf(WITH_RUN), 'Dockerfile')).not.toThrow();
    expect(() => assertRunStepsPossible(assessBuildMode({ ...LOCKED, uid: 0, user: 'root', mountNamespace: { ok: false } }), planOf(WITH_RUN), 'Dockerfile')).not.toThrow();
  });
});
