import { InvalidReferenceError } from './errors.js';
import { parseDigest } from './digest.js';

export const DOCKER_HUB = 'docker.io';
const LEGACY_HUB = 'index.docker.io';

const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const IPV6 = /^\[[a-fA-F0-9:]+(?:%[\w.-]+)?\]$/;
const MAX_NAME = 255;

/** A fully qualified image reference: registry, repository, and a tag and/or digest. */
export class Reference {
  constructor(
    readonly registry: string,
    readonly repository: string,
    readonly tag: string | undefined,
    readonly digest: string | undefined,
  ) {}

  /** registry/repository */
  get name(): string {
    return `${this.registry}/${this.repository}`;
  }

  /** What to ask the registry for: the digest when present, else the tag. */
  get identifier(): string {
    return this.digest ?? this.tag ?? 'latest';
  }

  withTag(tag: string): Reference {
    return new Reference(this.registry, this.repository, tag, undefined);
  }

  withDigest(digest: string): Reference {
    return new Reference(this.registry, this.repository, this.tag, digest);
  }

  toString(): string {
    let s = this.name;
    if (this.tag !== undefined) s += `:${this.tag}`;
    if (this.digest !== undefined) s += `@${this.digest}`;
    return s;
  }

  /** Docker's short form: `busybox:latest` rather than `docker.io/library/busybox:latest`. */
  familiar(): string {
    let name = this.name;
    if (this.registry === DOCKER_HUB) {
      name = this.repository.startsWith('library/') ? this.repository.slice('library/'.length) : this.repository;
    }
    if (this.tag !== undefined) name += `:${this.tag}`;
    if (this.digest !== undefined) name += `@${this.digest}`;
    return name;
  }
}

function isDomain(s: string): boolean {
  // host[:port]; host is dotted components, an IPv6 literal in brackets, or localhost
  const portIdx = s.startsWith('[') ? s.indexOf(']:') + 1 : s.lastIndexOf(':');
  let host = s;
  if (portIdx > 0) {
    const port = s.slice(portIdx + 1);
    if (!/^\d+$/.test(port)) return false;
    host = s.slice(0, portIdx);
  }
  if (IPV6.test(host)) return true;
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/**
 * Parses a reference the way docker does: `busybox` -> `docker.io/library/busybox:latest`;
 * `host:port/ns/repo:tag@sha256:...`. With `defaultTag: false`, a reference with neither
 * tag nor digest keeps no tag.
 */
export function parseReference(input: string, opts: { defaultTag?: boolean } = {}): Reference {
  const ref = input.trim();
  if (ref === '') throw new InvalidReferenceError(input, 'empty reference');
  if (/\s/.test(ref)) throw new InvalidReferenceError(input, 'contains white space');
  if (ref.includes('://')) throw new InvalidReferenceError(input, 'a reference has no scheme (drop "https://")');

  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(digest);
    } catch (e) {
      throw new InvalidReferenceError(input, (e as Error).message);
    }
  }

  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > lastSlash) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) throw new InvalidReferenceError(input, `invalid tag "${tag}" (letters, digits, _ . -, at most 128, not starting with . or -)`);
  }

  let registry = DOCKER_HUB;
  let path = rest;
  const firstSlash = rest.indexOf('/');
  if (firstSlash >= 0) {
    const first = rest.slice(0, firstSlash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first) {
      if (!isDomain(first)) throw new InvalidReferenceError(input, `invalid registry host "${first}"`);
      registry = first;
      path = rest.slice(firstSlash + 1);
    }
  }
  if (registry === LEGACY_HUB) registry = DOCKER_HUB;
  if (path === '') throw new InvalidReferenceError(input, 'missing repository name');
  if (path.toLowerCase() !== path) throw new InvalidReferenceError(input, 'repository name must be lowercase');
  for (const comp of path.split('/')) {
    if (!PATH_COMPONENT.test(comp)) throw new InvalidReferenceError(input, `invalid repository path component "${comp}"`);
  }
  if (registry === DOCKER_HUB && !path.includes('/')) path = `library/${path}`;
  if (`${registry}/${path}`.length > MAX_NAME) throw new InvalidReferenceError(input, `name longer than ${MAX_NAME} characters`);
  if (tag === undefined && digest === undefined && opts.defaultTag !== false) tag = 'latest';
  return new Reference(registry, path, tag, digest);
}

/** True for hosts docker talks plain HTTP to by default: localhost, 127.0.0.0/8, ::1. */
export function isLoopbackHost(registry: string): boolean {
  let host = registry;
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']'));
  else if (host.includes(':')) host = host.slice(0, host.lastIndexOf(':'));
  return host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}
