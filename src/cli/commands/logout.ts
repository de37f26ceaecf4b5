import type { Command } from '../command.js';
import { SlipwayError, UsageError, loginAuthFile, parseReference, removeCredentials } from '../../transfer.js';

/** `https://host:5000/` or `host:5000` -> `host:5000` (validated as a registry host). */
export function registryHostArg(value: string): string {
  const host = value.trim().replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (host === '') throw new UsageError(`"${value}" is not a registry host`, 'give HOST[:PORT], e.g. registry.example.com:5000');
  try {
    return parseReference(`${host}/x`).registry;
  } catch {
    throw new UsageError(`"${value}" is not a registry host`, 'give HOST[:PORT], e.g. registry.example.com:5000');
  }
}

export const logoutCommand: Command = {
  name: 'logout',
  usage: '[options] HOST',
  details: 'Removes HOST from the file "slipway login" writes ($REGISTRY_AUTH_FILE or ${XDG_CONFIG_HOME:-$HOME/.config}/containers/auth.json).',
  options: {},
  args: { min: 1, max: 1 },
  async run(ctx) {
    const host = registryHostArg(ctx.positionals[0] as string);
    const removed = await removeCredentials(host, ctx.env);
    if (!removed) {
      throw new SlipwayError('NOT_LOGGED_IN', `not logged in to ${host} (nothing in ${loginAuthFile(ctx.env)})`, {
        hint: 'credentials in ~/.docker/config.json or a credential helper are managed with docker logout',
      });
    }
    ctx.stdout.write(`Removed login credentials for ${host}\n`);
  },
};
