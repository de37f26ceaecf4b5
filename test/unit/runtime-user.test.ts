import { describe, expect, it } from 'vitest';
import { resolveUserSpec } from '../../src/runtime/user.js';
import { stepEnvironment, DEFAULT_PATH } from '../../src/runtime/env.js';
import { UnknownUserError } from '../../src/runtime/errors.js';

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:u:/home/user:/bin/sh\nsvc:x:999:998::/srv:/bin/false\n# comment:x:1:1::/:\n';
const GROUP = 'root:x:0:\nuser:x:1000:\nsvcg:x:998:\nextra:x:2000:user,svc\nmore:x:3000:svc\n';

describe('resolveUserSpec: USER against /etc/passwd and /etc/group', () => {
  const cases: [spec: string, uid: number, gid: number, extra: number[], home: string][] = [
    ['', 0, 0, [], '/root'],
    ['root', 0, 0, [], '/root'],
    ['0', 0, 0, [], '/root'],
    ['user', 1000, 1000, [2000], '/home/user'],
    ['1000', 1000, 1000, [2000], '/home/user'],
    ['svc', 999, 998, [2000, 3000], '/srv'],
    ['user:extra', 1000, 2000, [], '/home/user'],
    ['user:5', 1000, 5, [], '/home/user'],
    ['4242', 4242, 0, [], '/'],
    ['4242:4343', 4242, 4343, [], '/'],
  ];
  it.each(cases)('USER %j -> uid %i gid %i groups %j home %s', (spec, uid, gid, extra, home) => {
    expect(resolveUserSpec(spec, PASSWD, GROUP, 'Dockerfile:3')).toEqual({ uid, gid, additionalGids: extra, home });
  });

  it.each([
    ['nobody-here', 'user "nobody-here"', '/etc/passwd'],
    ['user:nogroup', 'group "nogroup"', '/etc/group'],
  ])('USER %j fails with the location and the file', (spec, what, file) => {
    let err: unknown;
    try {
      resolveUserSpec(spec, PASSWD, GROUP, 'Dockerfile:7');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(UnknownUserError);
    expect((err as Error).message).toBe(`Dockerfile:7: unable to find ${what} in the image's ${file}`);
  });

  it('an image without /etc/passwd still runs as root', () => {
    expect(resolveUserSpec('', undefined, undefined, 'x')).toEqual({ uid: 0, gid: 0, additionalGids: [], home: '/root' });
  });
});

describe('stepEnvironment: Docker precedence', () => {
  const cases: [name: string, imageEnv: string[], args: Record<string, string>, want: string[]][] = [
    ['defaults only', [], {}, [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=h', 'HOME=/home/u']],
    ['image PATH replaces the default', ['PATH=/x'], {}, ['PATH=/x', 'HOSTNAME=h', 'HOME=/home/u']],
    ['ENV wins over ARG of the same name', ['A=env'], { A: 'arg', B: 'arg' }, [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=h', 'A=env', 'B=arg', 'HOME=/home/u']],
    ['image HOME kept', ['HOME=/data'], {}, [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=h', 'HOME=/data']],
    ['values keep = signs', ['X=a=b'], {}, [`PATH=${DEFAULT_PATH}`, 'HOSTNAME=h', 'X=a=b', 'HOME=/home/u']],
  ];
  it.each(cases)('%s', (_n, imageEnv, args, want) => {
    expect(stepEnvironment({ imageEnv, args, hostname: 'h', home: '/home/u' })).toEqual(want);
  });
});
