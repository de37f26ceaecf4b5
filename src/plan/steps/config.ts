/** Metadata instructions: ENV, LABEL, MAINTAINER, USER, EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL, STOPSIGNAL, HEALTHCHECK, ONBUILD, ARG. */
import { LocationError, type Instruction } from '../../dockerfile/index.js';
import type { ConfigChange, ConfigStep } from '../types.js';
import { commonParts, finish, goQuoteList, type StepContext } from './context.js';

function step(ctx: StepContext, change: ConfigChange, instruction: string, createdBy: string, shell?: string[]): ConfigStep {
  return {
    kind: 'config', change, location: ctx.location, instruction, createdBy, layer: false,
    ...(ctx.onbuild ? { onbuild: true } : {}),
    ...(shell ? { shell } : {}),
    cache: finish(commonParts(ctx)),
  };
}

function expandPairs(ctx: StepContext, pairs: { key: string; value: string }[]): [string, string][] {
  return pairs.map((p) => [ctx.word(p.key), ctx.word(p.value)]);
}

const kv = (pairs: [string, string][]): string => pairs.map(([k, v]) => `${k}=${v}`).join(' ');

/**
 * `80`, `53/udp`, `8000-8002/tcp`, `127.0.0.1:8080:80` -> `80/tcp`, ... as docker's
 * port specs: ranges expand, the protocol is lowercased, an ip/host part is ignored.
 */
function exposedPorts(ctx: StepContext, spec: string): string[] {
  const container = spec.includes(':') ? spec.slice(spec.lastIndexOf(':') + 1) : spec;
  const m = /^(\d+)(?:-(\d+))?(?:\/(\w+))?$/.exec(container);
  const proto = (m?.[3] ?? 'tcp').toLowerCase();
  const lo = Number(m?.[1]);
  const hi = m?.[2] !== undefined ? Number(m[2]) : lo;
  if (!m || lo < 1 || hi > 65535 || hi < lo || !['tcp', 'udp', 'sctp'].includes(proto)) {
    throw new LocationError(ctx.location, `invalid port specification for EXPOSE: "${spec}"`, 'use PORT[/tcp|udp|sctp] or a range START-END[/proto], ports 1-65535');
  }
  const out: string[] = [];
  for (let p = lo; p <= hi; p++) out.push(`${p}/${proto}`);
  return out;
}

export function configStep(ctx: StepContext, ins: Instruction): ConfigStep | undefined {
  const st = ctx.state;
  switch (ins.kind) {
    case 'env': {
      const pairs = expandPairs(ctx, ins.pairs);
      for (const [k, v] of pairs) st.setEnv(k, v);
      return step(ctx, { op: 'env', pairs }, `ENV ${kv(pairs)}`, `ENV ${kv(pairs)}`);
    }
    case 'label': {
      const pairs = expandPairs(ctx, ins.pairs);
      return step(ctx, { op: 'label', pairs }, `LABEL ${kv(pairs)}`, `LABEL ${kv(pairs)}`);
    }
    case 'maintainer':
      return step(ctx, { op: 'label', pairs: [['maintainer', ins.maintainer]] }, `MAINTAINER ${ins.maintainer}`, `MAINTAINER ${ins.maintainer}`);
    case 'user': {
      const user = ctx.word(ins.user);
      st.user = user;
      return step(ctx, { op: 'user', user }, `USER ${user}`, `USER ${user}`);
    }
    case 'expose': {
      const ports = ins.ports.flatMap((p) => ctx.words(p)).flatMap((p) => exposedPorts(ctx, p));
      return step(ctx, { op: 'expose', ports }, `EXPOSE ${ports.join(' ')}`, `EXPOSE [${ports.join(' ')}]`);
    }
    case 'volume': {
      const paths = ins.volumes.map((v) => ctx.word(v));
      return step(ctx, { op: 'volume', paths }, `VOLUME ${JSON.stringify(paths)}`, `VOLUME [${paths.join(' ')}]`);
    }
    case 'cmd':
    case 'entrypoint': {
      const { form, args } = ins.command;
      const shell = form === 'shell' ? st.shell : undefined;
      const argv = form === 'shell' ? [...(st.shell ?? ['/bin/sh', '-c']), ...args] : args;
      const word = ins.kind.toUpperCase();
      return step(ctx, { op: ins.kind, form, args }, `${word} ${form === 'exec' ? JSON.stringify(args) : args.join(' ')}`, `${word} ${goQuoteList(argv)}`, shell);
    }
    case 'shell':
      st.shell = [...ins.shell];
      return step(ctx, { op: 'shell', shell: ins.shell }, `SHELL ${JSON.stringify(ins.shell)}`, `SHELL [${ins.shell.join(' ')}]`);
    case 'stopsignal': {
      const signal = ctx.word(ins.signal);
      return step(ctx, { op: 'stopsignal', signal }, `STOPSIGNAL ${signal}`, `STOPSIGNAL ${signal}`);
    }
    case 'healthcheck': {
      const { test, interval, timeout, startPeriod, startInterval, retries } = ins;
      const change: ConfigChange = {
        op: 'healthcheck', test,
        ...(interval !== undefined ? { interval } : {}), ...(timeout !== undefined ? { timeout } : {}),
        ...(startPeriod !== undefined ? { startPeriod } : {}), ...(startInterval !== undefined ? { startInterval } : {}),
        ...(retries !== undefined ? { retries } : {}),
      };
      const text = `HEALTHCHECK ${test[0] === 'NONE' ? 'NONE' : JSON.stringify(test)}`;
      return step(ctx, change, text, text);
    }
    case 'onbuild':
      return step(ctx, { op: 'onbuild', expression: ins.expression }, `ONBUILD ${ins.expression}`, `ONBUILD ${ins.expression}`);
    default:
      return undefined;
  }
}
