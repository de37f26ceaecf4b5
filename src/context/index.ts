export { BuildContext, type SourceSelection, type OpenContextOptions, type FileDigestMemo, type HashSelectionOptions } from './build-context.js';
export { hasWildcard } from './wildcard.js';
export { ContextSourceError, SourceSelector, selectSources, excludeMatcher, type ContextEntry, type SourceMatch, type SelectOptions, type SelectRoot, type ContextSourceReason, type PathMatcher } from './select.js';
export { IgnoreMatcher, parseDockerignore, DockerignoreError, type IgnorePattern } from './dockerignore.js';
export { cleanContextPath, resolveInRoot, resolveInRootSync, ContextPathError } from './paths.js';
