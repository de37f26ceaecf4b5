import type { Command } from '../command.js';
import { flag, str } from '../command.js';
import { UsageError, saveCredentials } from '../../transfer.js';
import { REGISTRY_OPTIONS, registrySession } from './registry-flags.js';
import { registryHostArg } from './logout.js';

async function readStdin(stdin: NodeJS.ReadableStream): Promise<string> {
  let s = '';
  for await (const chunk of stdin) s += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8');
  return s.replace(/\r?\n$/, '');
}

export const loginCommand: Command = {
  name: 'login',
  usage: '[options] HOST -u USER --password-stdin',
  details: [
    'Credentials are checked against the registry, then written to $REGISTRY_AUTH_FILE when set,',
    'else ${XDG_CONFIG_HOME:-$HOME/.config}/containers/auth.json (docker config.json format).',
    '',
    'Example:',
    '  echo "$TOKEN" | slipway login registry.example.com -u ci --password-stdin',
  ].join('\n'),
  options: {
    username: { type: 'string', short: 'u', value: 'USER', description: 'user name' },
    'password-stdin': { type: 'boolean', description: 'read the password from stdin (the only way to pass it)' },
    ...REGISTRY_OPTIONS,
  },
  args: { min: 1, max: 1 },
  async run(ctx) {
    const host = registryHostArg(ctx.positionals[0] as string);
    const username = str(ctx, 'username');
    if (!username) throw new UsageError('login: -u USER is required', 'usage: slipway login HOST -u USER --password-stdin');
    if (!flag(ctx, 'password-stdin')) throw new UsageError('login: pass the password on stdin with --password-stdin', 'passwords on the command line leak into shell history and ps');
    const password = await readStdin(ctx.stdin);
    if (password === '') throw new UsageError('login: empty password on stdin');
    const session = registrySession(ctx);
    try {
      await session.client(host).checkLogin({ username, password });
    } finally {
      await session.close();
    }
    const path = await saveCredentials(host, { username, password }, ctx.env);
    ctx.log(`credentials for ${host} saved in ${path}`);
    ctx.stdout.write('Login Succeeded\n');
  },
};
