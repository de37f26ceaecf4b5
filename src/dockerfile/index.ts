export * from './types.js';
export { LocationError, DockerfileErrors, formatLocation } from './errors.js';
export { parseDockerfile, type ParseOptions } from './parse.js';
export { ShellLexer, ShellLexError, lexEnv, type LexEnv, type LexOptions, type LexResult } from './shell-lex.js';
export { parseMountSpec, type MountSpec, type MountType } from './mount.js';
export { parseInstruction, INSTRUCTION_NAMES } from './instructions.js';
export { parseGoDuration, parseRamBytes } from './units.js';
export { suggest as suggestName } from './suggest.js';
