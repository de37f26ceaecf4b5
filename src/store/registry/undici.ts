import type { Agent, Dispatcher } from 'undici';

type RequestFn = (this: Dispatcher, opts: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;

export interface UndiciParts {
  Agent: typeof Agent;
  request: RequestFn;
}

let parts: Promise<UndiciParts> | undefined;

/** module.exports of a CommonJS file, whether import() gave the namespace or (bundled) the exports. */
function cjs<T>(mod: { default?: T } | T): T {
  return ((mod as { default?: T }).default ?? mod) as T;
}

/**
 * The two pieces of undici the registry client uses: Agent and the request API, loaded on
 * first use. Loading them alone instead of the whole package (fetch, websocket, cache,
 * mocks...) saves about 70 ms; as import() (not createRequire) they are part of the CLI bundle
 * and its V8 code cache, which saves the ~15 ms of compiling ~40 files on every registry
 * command. (These paths have been stable since undici 6; the registry tests would catch a move.)
 */
export function undici(): Promise<UndiciParts> {
  parts ??= Promise.all([import('undici/lib/dispatcher/agent.js'), import('undici/lib/api/api-request.js')]).then(([agent, api]) => ({
    Agent: cjs<typeof Agent>(agent),
    request: cjs<RequestFn>(api),
  }));
  return parts;
}
