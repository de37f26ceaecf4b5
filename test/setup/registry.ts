import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export interface RunningRegistry {
  /** host:port to use in references, e.g. 127.0.0.1:41234 */
  host: string;
  url: string;
  dir: string;
  proc: ChildProcess;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface RegistryOptions {
  dir: string;
  /** htpasswd basic auth with this user/password */
  auth?: { user: string; password: string };
  /** serve TLS with a self-signed cert made here; the CA file lands in dir/ca.crt */
  tls?: boolean;
}

async function waitReady(url: string, caFile: string | undefined, proc: ChildProcess, logFile: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`docker-registry exited early (${proc.exitCode}); see ${logFile}`);
    try {
      const args = ['-s', '-o', '/dev/null', '-w', '%{http_code}', `${url}/v2/`];
      if (caFile) args.unshift('--cacert', caFile);
      const code = execFileSync('curl', args, { encoding: 'utf8' }).trim();
      if (code === '200' || code === '401') return;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`docker-registry at ${url} did not become ready; see ${logFile}`);
}

/** Starts CNCF distribution (Debian's docker-registry) on a free loopback port. */
export async function startRegistry(opts: RegistryOptions): Promise<RunningRegistry> {
  mkdirSync(opts.dir, { recursive: true });
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const lines = [
    'version: 0.1',
    'log:',
    '  level: warn',
    '  accesslog:',
    '    disabled: true',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(opts.dir, 'data')}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${host}`,
    `  secret: slipway-test-secret`,
  ];
  let caFile: string | undefined;
  if (opts.tls) {
    const key = join(opts.dir, 'tls.key');
    const crt = join(opts.dir, 'tls.crt');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt, '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'], { stdio: 'ignore' });
    caFile = join(opts.dir, 'ca.crt');
    writeFileSync(caFile, execFileSync('cat', [crt]));
    lines.push('  tls:', `    certificate: ${crt}`, `    key: ${key}`);
  }
  if (opts.auth) {
    const htpasswd = join(opts.dir, 'htpasswd');
    const entry = execFileSync('htpasswd', ['-Bbn', opts.auth.user, opts.auth.password], { encoding: 'utf8' });
    writeFileSync(htpasswd, entry);
    lines.push('auth:', '  htpasswd:', '    realm: slipway-test', `    path: ${htpasswd}`);
  }
  const config = join(opts.dir, 'config.yml');
  writeFileSync(config, lines.join('\n') + '\n');
  const logFile = join(opts.dir, 'registry.log');
  const { openSync } = await import('node:fs');
  const out = openSync(logFile, 'a');
  const proc = spawn('docker-registry', ['serve', config], { stdio: ['ignore', out, out], detached: false });
  const url = `${opts.tls ? 'https' : 'http'}://${host}`;
  await waitReady(url, caFile, proc, logFile);
  return {
    host,
    url,
    dir: opts.dir,
    proc,
    stop: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 3000).unref();
      }),
  };
}
