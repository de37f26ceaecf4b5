/**
 * What the registry client reports while it works. Only the CLI renders these (progress,
 * --debug lines). Events never carry credentials, tokens or Authorization headers.
 */
export type RegistryEvent =
  | { type: 'request'; registry: string; method: string; path: string; status: number; attempt: number }
  | { type: 'retry'; registry: string; operation: string; attempt: number; delayMs: number; reason: string }
  | { type: 'scheme'; registry: string; scheme: 'https' | 'http' }
  | { type: 'auth'; registry: string; scheme: 'basic' | 'bearer' | 'none'; scope?: string; authenticated: boolean }
  | {
      type: 'blob-push';
      registry: string;
      repository: string;
      digest: string;
      size: number;
      how: 'exists' | 'mounted' | 'monolithic' | 'chunked';
      from?: string;
    }
  | { type: 'blob-fetch'; registry: string; repository: string; digest: string; size: number; resumedAt?: number }
  | { type: 'manifest-push'; registry: string; repository: string; reference: string; digest: string };

export type RegistryEventListener = (event: RegistryEvent) => void;

/** One line for --debug output. */
export function formatRegistryEvent(e: RegistryEvent): string {
  switch (e.type) {
    case 'request':
      return `registry ${e.registry}: ${e.method} ${e.path} -> ${e.status}${e.attempt > 1 ? ` (attempt ${e.attempt})` : ''}`;
    case 'retry':
      return `registry ${e.registry}: ${e.operation}: retry ${e.attempt} in ${e.delayMs} ms (${e.reason})`;
    case 'scheme':
      return `registry ${e.registry}: using ${e.scheme}`;
    case 'auth':
      return `registry ${e.registry}: auth ${e.scheme}${e.scope ? ` scope=${e.scope}` : ''}${e.authenticated ? ' (with credentials)' : ' (anonymous)'}`;
    case 'blob-push':
      return `registry ${e.registry}/${e.repository}: blob ${e.digest} (${e.size} bytes) ${e.how}${e.from ? ` from ${e.from}` : ''}`;
    case 'blob-fetch':
      return `registry ${e.registry}/${e.repository}: fetch blob ${e.digest} (${e.size} bytes)${e.resumedAt !== undefined ? ` resumed at ${e.resumedAt}` : ''}`;
    case 'manifest-push':
      return `registry ${e.registry}/${e.repository}: manifest ${e.digest} -> ${e.reference}`;
  }
}
