/**
 * Build arguments: the automatic platform ARGs, the predefined proxy ARGs,
 * and the values of global ARGs (before the first FROM) after --build-arg.
 */
import { ShellLexer, lexEnv, type ArgInstruction } from '../dockerfile/index.js';
import type { Platform } from '../oci/types.js';

/** Predefined ARGs usable without an ARG line; RUN sees them, history and cache keys do not. */
export const PROXY_ARGS: readonly string[] = [
  'HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'FTP_PROXY', 'ftp_proxy', 'NO_PROXY', 'no_proxy', 'ALL_PROXY', 'all_proxy',
];

/** ARGs the builder sets itself (never reported as unused build-args). */
export const BUILTIN_ARGS: readonly string[] = [
  'BUILDPLATFORM', 'BUILDOS', 'BUILDOSVERSION', 'BUILDARCH', 'BUILDVARIANT',
  'TARGETPLATFORM', 'TARGETOS', 'TARGETOSVERSION', 'TARGETARCH', 'TARGETVARIANT', 'TARGETSTAGE', 'SOURCE_DATE_EPOCH',
];

function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

/** The automatic platform ARGs (BuildKit's set), overridable by --build-arg of the same name. */
export function platformArgs(build: Platform, target: Platform, targetStage: string, overrides: Record<string, string>): Map<string, string> {
  const pairs: [string, string][] = [
    ['BUILDPLATFORM', formatPlatform(build)],
    ['BUILDOS', build.os],
    ['BUILDOSVERSION', build['os.version'] ?? ''],
    ['BUILDARCH', build.architecture],
    ['BUILDVARIANT', build.variant ?? ''],
    ['TARGETPLATFORM', formatPlatform(target)],
    ['TARGETOS', target.os],
    ['TARGETOSVERSION', target['os.version'] ?? ''],
    ['TARGETARCH', target.architecture],
    ['TARGETVARIANT', target.variant ?? ''],
    ['TARGETSTAGE', targetStage === '' ? 'default' : targetStage],
  ];
  const out = new Map<string, string>();
  for (const [k, v] of pairs) out.set(k, Object.prototype.hasOwnProperty.call(overrides, k) ? (overrides[k] as string) : v);
  return out;
}

export interface GlobalArgsResult {
  /** Values visible to FROM lines and to `ARG NAME` redeclarations in stages. */
  values: Map<string, string>;
  /** Names declared by global ARG lines. */
  declared: Set<string>;
}

/**
 * Applies the global ARG lines in order: a --build-arg wins; else the default,
 * expanded with the globals so far; `ARG NAME` without either stays unset.
 */
export function globalArgs(
  metaArgs: readonly ArgInstruction[],
  base: Map<string, string>,
  buildArgs: Record<string, string>,
  lexer: ShellLexer,
  onExpand: (ins: ArgInstruction, unset: Set<string>) => void,
): GlobalArgsResult {
  const values = new Map(base);
  const declared = new Set<string>();
  for (const ins of metaArgs) {
    for (const a of ins.args) {
      declared.add(a.key);
      if (Object.prototype.hasOwnProperty.call(buildArgs, a.key)) {
        values.set(a.key, buildArgs[a.key] as string);
      } else if (a.value !== undefined) {
        const r = lexer.process(a.value, lexEnv(values));
        onExpand(ins, r.unset);
        values.set(a.key, r.value);
      }
    }
  }
  return { values, declared };
}
