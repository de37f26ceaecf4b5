import { createRequire } from 'node:module';
import type { Agent, Dispatcher } from 'undici';

type RequestFn = (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

export interface UndiciParts {
  Agent: typeof Agent;
  request: RequestFn;
}

const require = createRequire(import.meta.url);
let parts: UndiciParts | undefined;

/**
 * The two pieces of undici the registry client uses: Agent and the request API. Loading
 * them alone instead of the whole package (fetch, websocket, cache, mocks...) saves about
 * 70 ms on every CLI start; the package entry is the fallback if its layout changes.
 */
export function undici(): UndiciParts {
  if (parts) return parts;
  try {
    parts = {
      Agent: require('undici/lib/dispatcher/agent.js') as typeof Agent,
      request: require('undici/lib/api/api-request.js') as RequestFn,
    };
  } catch {
    const full = require('undici') as { Agent: typeof Agent };
    parts = { Agent: full.Agent, request(this: Dispatcher, opts) { return (this as Dispatcher).request(opts); } };
  }
  return parts;
}
