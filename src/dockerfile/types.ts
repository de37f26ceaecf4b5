/**
 * Typed Dockerfile instructions: the output of `parseDockerfile`. Values are as
 * written (quotes and `$VAR` still in place) wherever BuildKit expands them
 * later; the planner (src/plan) applies the shell-word lexer where the
 * Dockerfile reference says expansion happens.
 */

/** Where something is in a Dockerfile. `line` and `column` are 1-based; `endLine` is the last line (continuations, heredocs). */
export interface Location {
  file: string;
  line: number;
  column: number;
  endLine: number;
}

/** A here-document attached to RUN, COPY or ADD (`<<EOF`, `<<-EOF`, `<<"EOF"`, `3<<EOF`). */
export interface Heredoc {
  /** Delimiter word without quotes. */
  name: string;
  /** Body with a trailing newline per line; for `<<-` leading tabs are already removed. */
  content: string;
  /** False when any part of the delimiter was quoted: the body is then taken literally. */
  expand: boolean;
  /** `<<-`: leading tabs stripped from body lines and the terminator. */
  chomp: boolean;
  /** File descriptor prefix (`3<<EOF`); 0 when absent. */
  fd: number;
}

/** Shell form (`RUN echo hi`, one string) or exec form (`RUN ["echo","hi"]`). */
export type CommandForm = 'shell' | 'exec';

/** A command line of RUN / CMD / ENTRYPOINT / HEALTHCHECK CMD. Shell form: `args` has exactly one string. */
export interface CommandLine {
  form: CommandForm;
  args: string[];
}

export interface KeyValue {
  key: string;
  /** Raw value as written (quotes in place); expanded by the planner. */
  value: string;
}

interface InstructionBase {
  location: Location;
  /** Keyword as written (`run`, `RUN`). */
  keyword: string;
  /** The logical line as BuildKit sees it: continuations joined, comment lines dropped, heredoc bodies excluded. */
  source: string;
}

export interface FromInstruction extends InstructionBase {
  kind: 'from';
  /** Image reference, stage name or `scratch`, unexpanded (global ARGs apply). */
  image: string;
  /** `AS name`, lowercased as BuildKit does. */
  stageName?: string;
  /** `--platform=` value, unexpanded. */
  platform?: string;
}

export interface RunInstruction extends InstructionBase {
  kind: 'run';
  command: CommandLine;
  heredocs: Heredoc[];
  /** Raw `--mount=` values (CSV, unexpanded); each was validated by `parseMountSpec` at parse time. */
  mounts: string[];
  /** `--network=`; undefined when not given (BuildKit's "default"). */
  network?: 'default' | 'none' | 'host';
  /** `--security=`; undefined when not given ("sandbox"). */
  security?: 'sandbox' | 'insecure';
}

export interface CmdInstruction extends InstructionBase {
  kind: 'cmd';
  command: CommandLine;
}

export interface EntrypointInstruction extends InstructionBase {
  kind: 'entrypoint';
  command: CommandLine;
}

export interface ShellInstruction extends InstructionBase {
  kind: 'shell';
  shell: string[];
}

export interface EnvInstruction extends InstructionBase {
  kind: 'env';
  pairs: KeyValue[];
  /** True for the legacy `ENV key value` form. */
  legacy: boolean;
}

export interface ArgDeclaration {
  key: string;
  /** Raw default value; undefined for `ARG NAME` without `=`. */
  value?: string;
}

export interface ArgInstruction extends InstructionBase {
  kind: 'arg';
  args: ArgDeclaration[];
}

export interface LabelInstruction extends InstructionBase {
  kind: 'label';
  pairs: KeyValue[];
}

/** Deprecated; the planner turns it into the `maintainer` label as docker does. */
export interface MaintainerInstruction extends InstructionBase {
  kind: 'maintainer';
  maintainer: string;
}

export interface ExposeInstruction extends InstructionBase {
  kind: 'expose';
  /** Raw words (`80`, `53/udp`, `$PORT`), in the order written. */
  ports: string[];
}

export interface UserInstruction extends InstructionBase {
  kind: 'user';
  user: string;
}

export interface WorkdirInstruction extends InstructionBase {
  kind: 'workdir';
  path: string;
}

export interface VolumeInstruction extends InstructionBase {
  kind: 'volume';
  volumes: string[];
  form: CommandForm;
}

export interface StopsignalInstruction extends InstructionBase {
  kind: 'stopsignal';
  signal: string;
}

export interface HealthcheckInstruction extends InstructionBase {
  kind: 'healthcheck';
  /** `['NONE']`, `['CMD', ...argv]` (exec form) or `['CMD-SHELL', 'cmd line']`, as in the image config. */
  test: string[];
  /** Durations in nanoseconds (image-config units); undefined when not given. */
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  startInterval?: number;
  retries?: number;
}

export interface OnbuildInstruction extends InstructionBase {
  kind: 'onbuild';
  /** The trigger text stored in the image config (`ONBUILD ` removed; heredoc bodies appended as BuildKit does). */
  expression: string;
  /** The trigger, parsed (never FROM, MAINTAINER or ONBUILD). */
  trigger: Instruction;
}

/** A COPY/ADD source given inline as a heredoc (`COPY <<EOF /dest`). */
export interface InlineSource {
  /** File name created in the destination (the heredoc delimiter). */
  path: string;
  data: string;
  expand: boolean;
}

interface CopyLike extends InstructionBase {
  /** Source paths/patterns/URLs, unexpanded, in order. */
  sources: string[];
  /** Heredoc sources. */
  inline: InlineSource[];
  dest: string;
  chown?: string;
  chmod?: string;
  link: boolean;
  /** `--exclude=` patterns (repeatable), unexpanded. */
  exclude: string[];
}

export interface CopyInstruction extends CopyLike {
  kind: 'copy';
  /** `--from=` stage name, stage index or image reference (never expanded, as BuildKit). */
  from?: string;
  parents: boolean;
}

export interface AddInstruction extends CopyLike {
  kind: 'add';
  checksum?: string;
  /** Undefined when the flag is absent. */
  keepGitDir?: boolean;
  unpack?: boolean;
}

/** Every Dockerfile instruction, discriminated by `kind`. */
export type Instruction =
  | FromInstruction
  | RunInstruction
  | CmdInstruction
  | EntrypointInstruction
  | ShellInstruction
  | EnvInstruction
  | ArgInstruction
  | LabelInstruction
  | MaintainerInstruction
  | ExposeInstruction
  | UserInstruction
  | WorkdirInstruction
  | VolumeInstruction
  | StopsignalInstruction
  | HealthcheckInstruction
  | OnbuildInstruction
  | CopyInstruction
  | AddInstruction;

export type InstructionKind = Instruction['kind'];

export interface ParserDirectives {
  syntax?: string;
  /** The escape character in force (`\` unless `# escape=` says otherwise). */
  escape: '\\' | '`';
  check?: string;
}

/** A parse warning (not fatal): empty continuation lines, deprecated forms. */
export interface DockerfileWarning {
  code: string;
  message: string;
  location: Location;
}

/** Result of `parseDockerfile`. Throws only when `errors` would be non-empty (a DockerfileParseError carries them all). */
export interface ParsedDockerfile {
  file: string;
  directives: ParserDirectives;
  instructions: Instruction[];
  warnings: DockerfileWarning[];
}
