import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RegistryClient, RegistryTlsError, RegistryUnreachableError, type RegistryEvent } from '../../src/store/registry/index.js';

/**
 * A loopback server that answers plain-HTTP /v2/ requests with `status` and counts the
 * connections that open with a TLS handshake (first byte 0x16), which it drops.
 */
interface SchemeServer {
  host: string;
  tlsAttempts: number;
  httpRequests: number;
  close(): Promise<void>;
}

async function schemeServer(status: number): Promise<SchemeServer> {
  const state = { tlsAttempts: 0, httpRequests: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sock.on('error', () => undefined);
    let seen = '';
    sock.on('data', (d: Buffer) => {
      if (seen === '' && d[0] === 0x16) {
        state.tlsAttempts++;
        sock.destroy();
        return;
      }
      seen += d.toString('latin1');
      if (!seen.includes('\r\n\r\n')) return;
      seen = '';
      state.httpRequests++;
      const extra = status === 401 ? 'www-authenticate: Basic realm="test"\r\n' : '';
      sock.write(`HTTP/1.1 ${status} X\r\ncontent-length: 0\r\ndocker-distribution-api-version: registry/2.0\r\n${extra}\r\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    get tlsAttempts() {
      return state.tlsAttempts;
    },
    get httpRequests() {
      return state.httpRequests;
    },
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

let work: string;
let caFile: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'slipway-scheme-'));
  // any well-formed PEM will do: the handshake never gets as far as checking it
  caFile = join(work, 'ca.pem');
  writeFileSync(caFile, '');
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

const FAST = { attempts: 1, baseMs: 1, maxMs: 1 };

describe('registry scheme choice for loopback registries', () => {
  it.each([
    { status: 200, what: 'answers 200' },
    { status: 401, what: 'asks for credentials (401)' },
  ])('a plain-HTTP loopback registry that $what is spoken to over HTTP without any TLS handshake', async ({ status }) => {
    const srv = await schemeServer(status);
    const events: RegistryEvent[] = [];
    const client = new RegistryClient(srv.host, { retry: FAST, onEvent: (e) => events.push(e) });
    try {
      expect(await client.baseUrl()).toBe(`http://${srv.host}`);
      expect(srv.tlsAttempts).toBe(0);
      expect(events).toContainEqual({ type: 'scheme', registry: srv.host, scheme: 'http' });
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it('a loopback port that gives plain HTTP no registry answer is asked over HTTPS, and its TLS failure is reported', async () => {
    // what a TLS-only registry does with a plain HTTP request
    const srv = await schemeServer(400);
    const client = new RegistryClient(srv.host, { retry: FAST });
    try {
      const err = await client.baseUrl().catch((e: unknown) => e);
      expect(srv.httpRequests).toBeGreaterThanOrEqual(1);
      expect(srv.tlsAttempts).toBeGreaterThanOrEqual(1);
      expect(err instanceof RegistryTlsError || err instanceof RegistryUnreachableError).toBe(true);
      expect((err as Error).message).toContain(srv.host);
    } finally {
      await client.close();
      await srv.close();
    }
  });

  it('with --tls-ca a loopback registry is asked over HTTPS at once, and HTTP is used when HTTPS fails', async () => {
    const srv = await schemeServer(200);
    const client = new RegistryClient(srv.host, { retry: FAST, tlsCaFiles: [caFile] });
    try {
      expect(await client.baseUrl()).toBe(`http://${srv.host}`);
      expect(srv.tlsAttempts).toBe(1);
    } finally {
      await client.close();
      await srv.close();
    }
  });
});
