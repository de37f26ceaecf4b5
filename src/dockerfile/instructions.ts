/**
 * One logical line -> one typed instruction, with BuildKit's per-instruction
 * rules (arguments, flags, JSON form, heredocs). Throws InstructionError.
 */
import { FlagError, InstructionFlags } from './flags.js';
import { MountError, parseMountSpec } from './mount.js';
import type { ScannedHeredoc } from './scanner.js';
import { didYouMean } from './suggest.js';
import type {
  ArgDeclaration,
  CommandLine,
  Heredoc,
  InlineSource,
  Instruction,
  KeyValue,
  Location,
} from './types.js';
import { parseGoDuration } from './units.js';
import { NotStringArrayError, parseHeredocMarker, parseJsonArray, parseQuotedWords, splitCommand, splitWhitespace } from './words.js';

export const INSTRUCTION_NAMES = [
  'ADD', 'ARG', 'CMD', 'COPY', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'FROM', 'HEALTHCHECK', 'LABEL',
  'MAINTAINER', 'ONBUILD', 'RUN', 'SHELL', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;

/** What is wrong with one instruction, and what to do about it. */
export class InstructionError extends Error {
  constructor(message: string, readonly hint: string, readonly code = 'DOCKERFILE_PARSE') {
    super(message);
  }
}

export interface RawInstruction {
  /** Logical line text. */
  line: string;
  escape: string;
  heredocs: ScannedHeredoc[];
  location: Location;
}

interface Ctx {
  keyword: string;
  upper: string;
  flags: string[];
  rest: string;
  raw: RawInstruction;
}

const chomp = (s: string): string => s.replace(/^\t+/gm, '');

function toHeredocs(scanned: ScannedHeredoc[]): Heredoc[] {
  return scanned.map((h) => ({ name: h.name, content: h.chomp ? chomp(h.content) : h.content, expand: h.expand, chomp: h.chomp, fd: h.fd }));
}

function flagsOf(c: Ctx, setup: (f: InstructionFlags) => void): InstructionFlags {
  const f = new InstructionFlags(c.flags);
  setup(f);
  try {
    return f.parse();
  } catch (e) {
    if (e instanceof FlagError) throw new InstructionError(e.message, `see the flags ${c.upper} accepts in the Dockerfile reference`);
    throw e;
  }
}

function json(c: Ctx): string[] | undefined {
  try {
    return parseJsonArray(c.rest);
  } catch (e) {
    if (e instanceof NotStringArrayError) throw new InstructionError(e.message, `write ${c.upper} ["executable", "arg"] with strings only`);
    throw e;
  }
}

/** RUN/CMD/ENTRYPOINT: exec form when `rest` is a JSON string array, else shell form (the text as written). */
function commandLine(c: Ctx): CommandLine {
  const arr = json(c);
  if (arr !== undefined) return { form: 'exec', args: arr };
  return { form: 'shell', args: c.rest === '' ? [] : [c.rest] };
}

/** ADD/COPY/VOLUME: JSON array or whitespace-separated words (quotes NOT grouping, as BuildKit). */
function list(c: Ctx): { form: 'shell' | 'exec'; args: string[] } {
  const arr = json(c);
  if (arr !== undefined) return { form: 'exec', args: arr };
  return { form: 'shell', args: splitWhitespace(c.rest) };
}

const need = {
  atLeastOne: (c: Ctx) => new InstructionError(`${c.upper} requires at least one argument`, `give ${c.upper} its argument(s)`),
  exactlyOne: (c: Ctx) => new InstructionError(`${c.upper} requires exactly one argument`, `give ${c.upper} one argument`),
};

function keyValues(c: Ctx): { pairs: KeyValue[]; legacy: boolean } {
  const words = parseQuotedWords(c.rest, c.raw.escape);
  if (words.length === 0) throw need.atLeastOne(c);
  if (!(words[0] as string).includes('=')) {
    const parts = c.rest.split(/[\t\v\f\r ]+/);
    if (parts.length < 2) throw new InstructionError(`${c.upper} must have two arguments`, `write ${c.upper} key=value`);
    const m = /[\t\v\f\r ]+/.exec(c.rest) as RegExpExecArray;
    return { pairs: [{ key: c.rest.slice(0, m.index), value: c.rest.slice(m.index + m[0].length) }], legacy: true };
  }
  const pairs = words.map((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) throw new InstructionError(`Syntax error - can't find = in "${w}". Must be of the form: name=value`, `write ${c.upper} name=value (quote values with spaces)`);
    if (eq === 0) throw new InstructionError(`${c.upper} names can not be blank`, `write ${c.upper} name=value`);
    return { key: w.slice(0, eq), value: w.slice(eq + 1) };
  });
  return { pairs, legacy: false };
}

function copyParts(c: Ctx, args: string[]): { sources: string[]; inline: InlineSource[]; dest: string } {
  if (args.length < 2) {
    throw new InstructionError(
      `${c.upper} requires at least two arguments, but only one was provided. Destination could not be determined`,
      `write ${c.upper} <source>... <destination>`,
    );
  }
  const dest = args[args.length - 1] as string;
  if (parseHeredocMarker(dest)) throw new InstructionError(`${c.upper} cannot accept a heredoc as a destination`, 'put the heredoc before the destination path');
  const docs = new Map(c.raw.heredocs.map((h) => [h.name, h]));
  const sources: string[] = [];
  const inline: InlineSource[] = [];
  for (const src of args.slice(0, -1)) {
    const h = parseHeredocMarker(src);
    if (h) {
      const body = docs.get(h.name)?.content ?? '';
      inline.push({ path: h.name, data: h.chomp ? chomp(body) : body, expand: h.expand });
    } else sources.push(src);
  }
  return { sources, inline, dest };
}

function duration(f: InstructionFlags, name: string): number | undefined {
  const v = f.get(name);
  if (v === undefined || v === '') return undefined;
  const ns = parseGoDuration(v);
  if (ns === undefined) throw new InstructionError(`time: invalid duration "${v}" for --${name}`, 'use a duration such as 30s, 1m30s or 500ms');
  if (ns === 0) return undefined;
  if (ns < 1e6) throw new InstructionError(`Interval "${name}" cannot be less than 1ms`, 'use a duration of at least 1ms');
  return ns;
}

type Parser = (c: Ctx) => Instruction;

function base(c: Ctx) {
  return { location: c.raw.location, keyword: c.keyword, source: c.raw.line.trim() };
}

const STAGE_NAME = /^[a-z][a-z0-9-_.]*$/;

const PARSERS: Record<string, Parser> = {
  from(c) {
    const f = flagsOf(c, (x) => x.string('platform'));
    const args = splitWhitespace(c.rest);
    let stageName: string | undefined;
    if (args.length === 3 && (args[1] as string).toLowerCase() === 'as') {
      stageName = (args[2] as string).toLowerCase();
      if (!STAGE_NAME.test(stageName)) {
        throw new InstructionError(`invalid name for build stage: "${args[2]}", name can't start with a number or contain symbols`, 'stage names are lowercase letters, digits, "-", "_" and "."; start with a letter');
      }
    } else if (args.length !== 1) {
      throw new InstructionError('FROM requires either one or three arguments', 'write FROM [--platform=P] IMAGE [AS NAME]');
    }
    const platform = f.get('platform');
    return { ...base(c), kind: 'from', image: args[0] as string, ...(stageName ? { stageName } : {}), ...(platform !== undefined ? { platform } : {}) };
  },
  run(c) {
    const f = flagsOf(c, (x) => x.strings('mount').string('network').string('security'));
    const command = commandLine(c);
    if (command.args.length === 0 && command.form === 'shell') throw need.atLeastOne(c);
    const network = f.get('network');
    if (network !== undefined && !['default', 'none', 'host'].includes(network)) {
      throw new InstructionError(`invalid network mode "${network}"${didYouMean(network, ['default', 'none', 'host'])}`, 'use --network=default, none or host');
    }
    const security = f.get('security');
    if (security !== undefined && !['sandbox', 'insecure'].includes(security)) {
      throw new InstructionError(`security "${security}" is not valid`, 'use --security=sandbox or insecure');
    }
    const mounts = f.list('mount');
    for (const m of mounts) {
      try {
        parseMountSpec(m, undefined, true);
      } catch (e) {
        if (e instanceof MountError) throw new InstructionError(e.message, `fix --mount=${m}; see "RUN --mount" in the Dockerfile reference for the keys of each mount type`);
        throw e;
      }
    }
    return {
      ...base(c), kind: 'run', command, heredocs: command.form === 'shell' ? toHeredocs(c.raw.heredocs) : [], mounts,
      ...(network !== undefined ? { network: network as 'default' | 'none' | 'host' } : {}),
      ...(security !== undefined ? { security: security as 'sandbox' | 'insecure' } : {}),
    };
  },
  cmd(c) {
    flagsOf(c, () => {});
    return { ...base(c), kind: 'cmd', command: commandLine(c) };
  },
  entrypoint(c) {
    flagsOf(c, () => {});
    return { ...base(c), kind: 'entrypoint', command: commandLine(c) };
  },
  shell(c) {
    flagsOf(c, () => {});
    const arr = json(c);
    if (arr === undefined) {
      if (c.rest === '') throw need.atLeastOne(c);
      throw new InstructionError(`SHELL requires the arguments to be in JSON form`, 'write SHELL ["executable", "parameters"]');
    }
    if (arr.length === 0) throw need.atLeastOne(c);
    return { ...base(c), kind: 'shell', shell: arr };
  },
  env(c) {
    flagsOf(c, () => {});
    return { ...base(c), kind: 'env', ...keyValues(c) };
  },
  label(c) {
    flagsOf(c, () => {});
    return { ...base(c), kind: 'label', pairs: keyValues(c).pairs };
  },
  arg(c) {
    const words = parseQuotedWords(c.rest, c.raw.escape);
    if (words.length === 0) throw need.atLeastOne(c);
    const args: ArgDeclaration[] = words.map((w) => {
      const eq = w.indexOf('=');
      if (eq < 0) return { key: w };
      if (eq === 0) throw new InstructionError('ARG names can not be blank', 'write ARG name[=default]');
      return { key: w.slice(0, eq), value: w.slice(eq + 1) };
    });
    return { ...base(c), kind: 'arg', args };
  },
  maintainer(c) {
    flagsOf(c, () => {});
    if (c.rest === '') throw need.exactlyOne(c);
    return { ...base(c), kind: 'maintainer', maintainer: c.rest };
  },
  expose(c) {
    flagsOf(c, () => {});
    const ports = splitWhitespace(c.rest);
    if (ports.length === 0) throw need.atLeastOne(c);
    return { ...base(c), kind: 'expose', ports: [...ports].sort() };
  },
  user(c) {
    flagsOf(c, () => {});
    if (c.rest === '') throw need.exactlyOne(c);
    return { ...base(c), kind: 'user', user: c.rest };
  },
  workdir(c) {
    flagsOf(c, () => {});
    if (c.rest === '') throw need.exactlyOne(c);
    return { ...base(c), kind: 'workdir', path: c.rest };
  },
  volume(c) {
    flagsOf(c, () => {});
    const { form, args } = list(c);
    if (args.length === 0) throw need.atLeastOne(c);
    const volumes = args.map((v) => {
      const t = v.trim();
      if (t === '') throw new InstructionError('VOLUME specified can not be an empty string', 'remove the empty entry');
      return t;
    });
    return { ...base(c), kind: 'volume', volumes, form };
  },
  stopsignal(c) {
    if (c.rest === '') throw need.exactlyOne(c);
    return { ...base(c), kind: 'stopsignal', signal: c.rest };
  },
  healthcheck(c) {
    const m = /^(\S+)\s*([\s\S]*)$/.exec(c.rest);
    if (!m) throw need.atLeastOne(c);
    const typ = (m[1] as string).toUpperCase();
    const sub: Ctx = { ...c, rest: m[2] as string };
    if (typ === 'NONE') {
      if (sub.rest !== '') throw new InstructionError('HEALTHCHECK NONE takes no arguments', 'write HEALTHCHECK NONE alone');
      return { ...base(c), kind: 'healthcheck', test: ['NONE'] };
    }
    const f = flagsOf(c, (x) => x.string('interval').string('timeout').string('start-period').string('start-interval').string('retries'));
    if (typ !== 'CMD') throw new InstructionError(`Unknown type "${typ}" in HEALTHCHECK (try CMD)`, 'write HEALTHCHECK [OPTIONS] CMD command, or HEALTHCHECK NONE');
    const cmd = commandLine(sub);
    if (cmd.args.length === 0) throw new InstructionError('Missing command after HEALTHCHECK CMD', 'write HEALTHCHECK CMD <command>');
    const test = cmd.form === 'exec' ? ['CMD', ...cmd.args] : ['CMD-SHELL', cmd.args.join(' ')];
    const out: Instruction = { ...base(c), kind: 'healthcheck', test };
    const interval = duration(f, 'interval');
    const timeout = duration(f, 'timeout');
    const startPeriod = duration(f, 'start-period');
    const startInterval = duration(f, 'start-interval');
    if (interval !== undefined) out.interval = interval;
    if (timeout !== undefined) out.timeout = timeout;
    if (startPeriod !== undefined) out.startPeriod = startPeriod;
    if (startInterval !== undefined) out.startInterval = startInterval;
    const retries = f.get('retries');
    if (retries !== undefined && retries !== '') {
      if (!/^[+-]?\d+$/.test(retries)) throw new InstructionError(`strconv.ParseInt: parsing "${retries}": invalid syntax`, 'give --retries a whole number');
      const n = Number(retries);
      if (n < 0) throw new InstructionError(`--retries cannot be negative (${n})`, 'give --retries a number >= 0');
      out.retries = n;
    }
    return out;
  },
  onbuild(c) {
    flagsOf(c, () => {});
    if (c.rest === '') throw need.atLeastOne(c);
    const triggerWord = (splitCommand(c.rest, c.raw.escape).keyword).toUpperCase();
    if (triggerWord === 'ONBUILD') throw new InstructionError('Chaining ONBUILD via `ONBUILD ONBUILD` isn\'t allowed', 'remove the second ONBUILD');
    if (triggerWord === 'MAINTAINER' || triggerWord === 'FROM') throw new InstructionError(`${triggerWord} isn't allowed as an ONBUILD trigger`, 'ONBUILD takes any instruction but FROM, MAINTAINER and ONBUILD');
    const trigger = parseInstruction({ ...c.raw, line: c.rest });
    let expression = c.raw.line.replace(/^\s*ONBUILD\s*/i, '');
    for (const h of c.raw.heredocs) expression += `\n${h.content}${h.name}`;
    return { ...base(c), kind: 'onbuild', expression, trigger };
  },
  copy(c) {
    const f = flagsOf(c, (x) => x.string('chown').string('from').string('chmod').bool('link').strings('exclude').bool('parents'));
    const parts = copyParts(c, list(c).args);
    const from = f.get('from');
    const chown = f.get('chown');
    const chmod = f.get('chmod');
    return {
      ...base(c), kind: 'copy', ...parts,
      ...(from !== undefined && from !== '' ? { from } : {}),
      ...(chown !== undefined && chown !== '' ? { chown } : {}),
      ...(chmod !== undefined && chmod !== '' ? { chmod } : {}),
      link: f.isTrue('link'), parents: f.isTrue('parents'), exclude: f.list('exclude'),
    };
  },
  add(c) {
    const f = flagsOf(c, (x) => x.string('chown').string('chmod').bool('link').bool('keep-git-dir').string('checksum').bool('unpack').strings('exclude'));
    const parts = copyParts(c, list(c).args);
    const chown = f.get('chown');
    const chmod = f.get('chmod');
    const checksum = f.get('checksum');
    const keepGitDir = f.optionalBool('keep-git-dir');
    const unpack = f.optionalBool('unpack');
    return {
      ...base(c), kind: 'add', ...parts,
      ...(chown !== undefined && chown !== '' ? { chown } : {}),
      ...(chmod !== undefined && chmod !== '' ? { chmod } : {}),
      ...(checksum !== undefined && checksum !== '' ? { checksum } : {}),
      ...(keepGitDir !== undefined ? { keepGitDir } : {}),
      ...(unpack !== undefined ? { unpack } : {}),
      link: f.isTrue('link'), exclude: f.list('exclude'),
    };
  },
};

/** Keywords whose instruction may open heredocs (ONBUILD: when its trigger may). */
export function mayHaveHeredocs(line: string, escape: string): boolean {
  const { keyword, rest } = splitCommand(line, escape);
  const k = keyword.toLowerCase();
  if (k === 'onbuild') return rest !== '' && mayHaveHeredocs(rest, escape);
  if (k !== 'run' && k !== 'copy' && k !== 'add') return false;
  try {
    return parseJsonArray(rest) === undefined;
  } catch {
    return true;
  }
}

/** Parses one logical line. Throws InstructionError. */
export function parseInstruction(raw: RawInstruction): Instruction {
  const { keyword, flags, rest } = splitCommand(raw.line, raw.escape);
  const parser = PARSERS[keyword.toLowerCase()];
  if (!parser) {
    throw new InstructionError(
      `unknown instruction: ${keyword}${didYouMean(keyword, INSTRUCTION_NAMES)}`,
      `use one of ${INSTRUCTION_NAMES.join(', ')}`,
      'DOCKERFILE_UNKNOWN_INSTRUCTION',
    );
  }
  return parser({ keyword, upper: keyword.toUpperCase(), flags, rest, raw });
}
