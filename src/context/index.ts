export { BuildContext, ContextSourceError, type ContextEntry, type SourceMatch, type SourceSelection, type OpenContextOptions } from './build-context.js';
export { IgnoreMatcher, parseDockerignore, DockerignoreError, type IgnorePattern } from './dockerignore.js';
export { cleanContextPath, resolveInRoot, ContextPathError } from './paths.js';
