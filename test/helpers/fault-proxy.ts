import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** What the proxy does with one request. */
export type FaultAction =
  /** answer this status with a distribution error body (code UNAVAILABLE, message "injected fault") */
  | { kind: 'status'; status: number; headers?: Record<string, string> }
  /** forward, but cut the connection after this many response body bytes */
  | { kind: 'truncate'; after: number }
  /** forward with one byte of the response body flipped */
  | { kind: 'corrupt' }
  /** forward the request, let the registry finish it, then drop the connection before answering */
  | { kind: 'drop-after-upstream' };
export type FaultRule = (req: IncomingMessage) => FaultAction | undefined;

export interface FaultProxy {
  /** host:port to use in references */
  host: string;
  /** decides per request; undefined = pass through */
  rule: FaultRule;
  /** "METHOD path" of every request seen */
  seen: string[];
  close(): Promise<void>;
}

/** A loopback HTTP proxy in front of a registry (host:port) that injects faults chosen per request. */
export async function startFaultProxy(upstream: string): Promise<FaultProxy> {
  const [uhost, uport] = upstream.split(':') as [string, string];
  const proxy: FaultProxy = { host: '', rule: () => undefined, seen: [], close: async () => {} };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    proxy.seen.push(`${req.method} ${req.url}`);
    const action = proxy.rule(req);
    if (action?.kind === 'status') {
      req.resume();
      res.writeHead(action.status, { 'content-type': 'application/json', ...action.headers });
      res.end(JSON.stringify({ errors: [{ code: 'UNAVAILABLE', message: 'injected fault' }] }));
      return;
    }
    const up = httpRequest({ host: uhost, port: Number(uport), method: req.method, path: req.url, headers: req.headers }, (ures) => {
      if (action?.kind === 'drop-after-upstream') {
        ures.resume();
        ures.on('end', () => res.socket?.destroy());
        return;
      }
      if (action?.kind === 'corrupt') {
        const parts: Buffer[] = [];
        ures.on('data', (c: Buffer) => parts.push(c));
        ures.on('end', () => {
          const body = Buffer.concat(parts);
          if (body.length > 0) body[body.length >> 1] = (body[body.length >> 1] as number) ^ 0xff;
          res.writeHead(ures.statusCode ?? 500, ures.headers);
          res.end(body);
        });
        return;
      }
      res.writeHead(ures.statusCode ?? 500, ures.headers);
      if (action?.kind === 'truncate') {
        let sent = 0;
        ures.on('data', (c: Buffer) => {
          if (sent >= action.after) return;
          const part = c.subarray(0, action.after - sent);
          sent += part.length;
          res.write(part);
          if (sent >= action.after) setTimeout(() => res.socket?.destroy(), 20);
        });
        ures.on('end', () => setTimeout(() => res.socket?.destroy(), 20));
        return;
      }
      ures.pipe(res);
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address();
  proxy.host = `127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
  proxy.close = () => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  });
  return proxy;
}

/** The first `n` requests that match get `action`; the rest pass. */
export function times(n: number, match: (req: IncomingMessage) => boolean, action: FaultAction): FaultRule {
  let left = n;
  return (req) => {
    if (left > 0 && match(req)) {
      left--;
      return action;
    }
    return undefined;
  };
}

