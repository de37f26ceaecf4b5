import { describe, expect, it } from 'vitest';
import { isLoopbackHost, parseReference } from '../../src/oci/reference.js';

describe('parseReference', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['user/app', 'docker.io/user/app:latest'],
    ['index.docker.io/user/app:v1', 'docker.io/user/app:v1'],
    ['localhost/app', 'localhost/app:latest'],
    ['localhost:5000/app', 'localhost:5000/app:latest'],
    ['127.0.0.1:5000/ns/sub/app:tag', '127.0.0.1:5000/ns/sub/app:tag'],
    ['ghcr.io/org/app@sha256:' + 'a'.repeat(64), 'ghcr.io/org/app@sha256:' + 'a'.repeat(64)],
    ['ghcr.io/org/app:v2@sha256:' + 'b'.repeat(64), 'ghcr.io/org/app:v2@sha256:' + 'b'.repeat(64)],
    ['[::1]:5000/app', '[::1]:5000/app:latest'],
    ['my-registry.example.com/a__b/c.d-e:1.0_x', 'my-registry.example.com/a__b/c.d-e:1.0_x'],
  ])('%s -> %s', (input, expected) => {
    expect(parseReference(input).toString()).toBe(expected);
  });

  it.each([
    ['', 'empty'],
    ['Busybox', 'lowercase'],
    ['busybox:', 'invalid tag'],
    ['busybox:-bad', 'invalid tag'],
    ['busybox@sha256:abc', 'sha256 needs 64'],
    ['https://ghcr.io/a', 'no scheme'],
    ['a//b', 'path component'],
    ['ghcr.io/', 'missing repository'],
    ['a b', 'white space'],
  ])('rejects %j (%s)', (input, why) => {
    expect(() => parseReference(input)).toThrow(why);
  });

  it('keeps no tag when asked', () => {
    expect(parseReference('busybox', { defaultTag: false }).tag).toBeUndefined();
  });

  it('gives familiar names', () => {
    expect(parseReference('busybox').familiar()).toBe('busybox:latest');
    expect(parseReference('ghcr.io/a/b:1').familiar()).toBe('ghcr.io/a/b:1');
  });

  it.each([
    ['localhost:5000', true],
    ['127.0.0.1:5000', true],
    ['127.1.2.3', true],
    ['[::1]:5000', true],
    ['docker.io', false],
    ['10.0.0.1:5000', false],
  ])('isLoopbackHost(%s) = %s', (h, v) => {
    expect(isLoopbackHost(h)).toBe(v);
  });
});
