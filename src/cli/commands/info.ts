import type { Command } from '../command.js';
import { str } from '../command.js';
import { detectBuildMode, formatBuildModeReport, hostPlatform, formatPlatform, localStoreRoot, runtimeInfo, storePaths, UsageError, type BuildModeReport, type RunIsolation, type RuntimeInfo } from '../../index.js';

function ranges(r: RuntimeInfo['subuids']): string {
  return r.length === 0 ? 'none' : r.map((x) => `${x.start}-${x.start + x.count - 1} (${x.count})`).join(', ');
}

function text(info: RuntimeInfo & { version: string; platform: string; buildMode: BuildModeReport }): string {
  const lines = [
    `version: ${info.version}`,
    `platform: ${info.platform}`,
    `kernel: ${info.kernel}`,
    `user: ${info.user} (uid ${info.uid}, ${info.mode === 'root' ? 'real root: no user namespace needed' : info.mode === 'userns' ? 'root of a user namespace' : 'rootless: builds run in a user namespace'})`,
    `user namespaces: ${info.userNamespaces.available ? 'available' : 'NOT available'} (${info.userNamespaces.detail})`,
    `subordinate uids: ${ranges(info.subuids)}`,
    `subordinate gids: ${ranges(info.subgids)}`,
    `id map: ${info.idMap}${info.idMap === 'single' ? ' (only uid 0 inside; chown/apt-get fail)' : ''}`,
    `storage driver: ${info.storageDriver.driver} (${info.storageDriver.reason})`,
    `isolation: ${info.isolation}`,
    `oci runtime: ${info.ociRuntime ? `${info.ociRuntime.name} ${info.ociRuntime.path} (${info.ociRuntime.reason})` : 'none'}`,
  ];
  for (const f of info.fixes) lines.push(`fix: ${f}`);
  // which of the three build modes this machine allows, every blocker with its fix
  lines.push(...formatBuildModeReport(info.buildMode));
  return lines.join('\n') + '\n';
}

export const infoCommand: Command = {
  name: 'info',
  usage: '[options]',
  options: {
    format: { type: 'string', value: 'json|text', description: 'output format (default text)' },
    isolation: { type: 'string', value: 'oci|chroot', description: 'report for this isolation mode' },
    runtime: { type: 'string', value: 'PATH', description: 'report for this OCI runtime' },
    'storage-driver': { type: 'string', value: 'overlay|fuse-overlayfs|vfs', description: 'report for this storage driver' },
  },
  args: { min: 0, max: 0 },
  async run(ctx) {
    const format = str(ctx, 'format') ?? 'text';
    if (format !== 'json' && format !== 'text') throw new UsageError(`info: --format must be json or text, not "${format}"`);
    const isolation = str(ctx, 'isolation');
    if (isolation !== undefined && isolation !== 'oci' && isolation !== 'chroot') throw new UsageError(`info: --isolation must be oci or chroot`);
    const ri = await runtimeInfo({
      ...(isolation ? { isolation: isolation as RunIsolation } : {}),
      ...(str(ctx, 'runtime') ? { runtime: str(ctx, 'runtime')! } : {}),
      ...(str(ctx, 'storage-driver') ? { storageDriver: str(ctx, 'storage-driver')! } : {}),
      ...((process.getuid?.() ?? 0) === 0 ? { stateDir: storePaths(localStoreRoot(ctx.env, str(ctx, 'root'))).tmp } : {}),
    });
    const buildMode = await detectBuildMode({ env: ctx.env, fresh: true });
    const info = { version: process.version, platform: formatPlatform(hostPlatform()), ...ri, buildMode };
    if (format === 'json') ctx.stdout.write(JSON.stringify(info, null, 2) + '\n');
    else ctx.stdout.write(text(info));
  },
};
