import { describe, expect, it } from 'vitest';
import { parseChallenges, pickChallenge } from '../../src/store/registry/challenge.js';
import { backoffDelay, isRetriableStatus, parseRetryAfter } from '../../src/store/registry/retry.js';
import { parseTokenResponse, RegistryAuthorizer } from '../../src/store/registry/auth.js';
import { parseRegistriesConfig } from '../../src/store/registry/config.js';
import { parseRegistryErrors, RegistryNotFoundError } from '../../src/store/registry/errors.js';
import { normalizeAuthKey } from '../../src/store/registry/credentials.js';

describe('WWW-Authenticate parsing', () => {
  it.each([
    ['Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull,push"', 'bearer',
      { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:a/b:pull,push' }],
    ['Basic realm="slipway-test"', 'basic', { realm: 'slipway-test' }],
    ['bearer realm=https://x/t, service=svc', 'bearer', { realm: 'https://x/t', service: 'svc' }],
    ['Bearer realm="https://x/t",error="insufficient_scope",scope="repository:a:pull"', 'bearer', { realm: 'https://x/t', error: 'insufficient_scope', scope: 'repository:a:pull' }],
    ['Bearer realm="a\\"b"', 'bearer', { realm: 'a"b' }],
  ])('%s', (header, scheme, params) => {
    const [c] = parseChallenges(header);
    expect(c?.scheme).toBe(scheme);
    expect(c?.params).toEqual(params);
  });

  it('prefers a bearer challenge over basic and skips unknown schemes', () => {
    const c = pickChallenge('Negotiate abc, Basic realm="r", Bearer realm="https://t/token",service="s"');
    expect(c?.scheme).toBe('bearer');
    expect(c?.params['service']).toBe('s');
    expect(parseChallenges('Negotiate abc')).toEqual([]);
    expect(pickChallenge(undefined)).toBeUndefined();
  });
});

describe('retry timing', () => {
  it.each([
    ['3', 3000],
    ['0', 0],
    [' 12 ', 12000],
    ['soon', undefined],
    [undefined, undefined],
  ])('Retry-After %s -> %s ms', (value, ms) => {
    expect(parseRetryAfter(value)).toBe(ms);
  });

  it('reads an HTTP-date Retry-After relative to now', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:05 GMT', now)).toBe(5000);
  });

  it('backs off exponentially within [d/2, d], capped', () => {
    const policy = { attempts: 6, baseMs: 100, maxMs: 1000 };
    expect(backoffDelay(policy, 1, () => 0)).toBe(50);
    expect(backoffDelay(policy, 1, () => 1)).toBe(100);
    expect(backoffDelay(policy, 3, () => 1)).toBe(400);
    expect(backoffDelay(policy, 10, () => 1)).toBe(1000);
    expect(backoffDelay(policy, 10, () => 0)).toBe(500);
  });

  it.each([[429, true], [500, true], [502, true], [503, true], [501, false], [404, false], [400, false], [401, false]])(
    'status %i retriable: %s', (status, want) => expect(isRetriableStatus(status)).toBe(want));
});

describe('token responses', () => {
  it.each([
    [{ token: 't1', expires_in: 300 }, 't1', 300],
    [{ access_token: 't2' }, 't2', 60],
    [{ token: '', access_token: 't3', expires_in: 120 }, 't3', 120],
  ])('%j', (json, token, ttl) => {
    const t = parseTokenResponse(json, 0);
    expect(t?.token).toBe(token);
    // renewed early, but never after the server's expiry
    expect(t!.expiresAt).toBeLessThan(ttl * 1000);
    expect(t!.expiresAt).toBeGreaterThan(ttl * 500);
  });
  it('rejects answers without a token', () => {
    expect(parseTokenResponse({ expires_in: 3 })).toBeUndefined();
    expect(parseTokenResponse('x')).toBeUndefined();
  });
});

describe('RegistryAuthorizer token cache', () => {
  it('caches per scope set, dedupes concurrent requests and refetches after expiry', async () => {
    let now = 0;
    const asked: string[] = [];
    const auth = new RegistryAuthorizer(
      async () => ({ username: 'u', password: 'p' }),
      async (_c, scopes) => {
        asked.push(scopes.join(' '));
        return { token: `tok-${asked.length}`, expiresAt: now + 1000 };
      },
      () => now,
    );
    auth.setChallenge({ scheme: 'bearer', params: { realm: 'http://t' } });
    const a = ['repository:a:pull'];
    const [h1, h2] = await Promise.all([auth.header(a), auth.header(a)]);
    expect(h1).toBe('Bearer tok-1');
    expect(h2).toBe('Bearer tok-1');
    expect(await auth.header(['repository:b:pull'])).toBe('Bearer tok-2');
    expect(await auth.header(a)).toBe('Bearer tok-1');
    now = 2000;
    expect(await auth.header(a)).toBe('Bearer tok-3');
    expect(asked).toEqual(['repository:a:pull', 'repository:b:pull', 'repository:a:pull']);
  });

  it('sends basic credentials only when the registry asked for basic', async () => {
    const auth = new RegistryAuthorizer(async () => ({ username: 'u', password: 'p' }), async () => { throw new Error('no'); });
    expect(await auth.header([])).toBeUndefined();
    auth.setChallenge({ scheme: 'basic', params: {} });
    expect(await auth.header([])).toBe(`Basic ${Buffer.from('u:p').toString('base64')}`);
  });
});

describe('registries config', () => {
  it('reads mirrors and insecure hosts', () => {
    expect(parseRegistriesConfig('{"mirrors":{"docker.io":["m1:5000","m2"]},"insecure":["lan:5000"]}', 'f')).toEqual({
      mirrors: { 'docker.io': ['m1:5000', 'm2'] },
      insecure: ['lan:5000'],
    });
    expect(parseRegistriesConfig('{}', 'f')).toEqual({ mirrors: {}, insecure: [] });
  });
  it.each([
    ['not json', /not valid JSON/],
    ['[]', /JSON object/],
    ['{"mirrors":{"docker.io":"m1"}}', /list of host/],
    ['{"mirrors":{"docker.io":["https://m1/x"]}}', /list of host/],
    ['{"insecure":"h"}', /"insecure"/],
  ])('rejects %s', (text, re) => {
    expect(() => parseRegistriesConfig(text, '/etc/x.json')).toThrow(re);
  });
});

describe('registry error bodies', () => {
  it('parses distribution error entries and names them in the error', () => {
    const entries = parseRegistryErrors('{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}');
    expect(entries).toEqual([{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown' }]);
    const e = new RegistryNotFoundError({ registry: 'r.example:5000', repository: 'team/app', operation: 'resolving manifest x' }, 404, entries);
    expect(e.code).toBe('REGISTRY_NOT_FOUND');
    expect(e.registryCode).toBe('MANIFEST_UNKNOWN');
    expect(e.message).toBe('resolving manifest x at r.example:5000/team/app: HTTP 404 MANIFEST_UNKNOWN: manifest unknown (not found)');
    expect(parseRegistryErrors('<html>')).toEqual([]);
  });
});

describe('auth file keys', () => {
  it.each([
    ['https://index.docker.io/v1/', 'docker.io'],
    ['registry-1.docker.io', 'docker.io'],
    ['https://reg.example:5000/', 'reg.example:5000'],
    ['Reg.Example', 'reg.example'],
    ['127.0.0.1:5000', '127.0.0.1:5000'],
  ])('%s -> %s', (key, want) => expect(normalizeAuthKey(key)).toBe(want));
});
