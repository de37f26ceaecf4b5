import { SlipwayError } from '../oci/errors.js';

/**
 * Shell-word lexer with the Dockerfile reference's expansion rules (BuildKit's
 * shell/lex semantics): `$VAR`, `${VAR}`, `${VAR:-w}`, `${VAR-w}`, `${VAR:+w}`,
 * `${VAR+w}`, `${VAR:?msg}`, `${VAR?msg}`, `${VAR#p}`, `${VAR##p}`, `${VAR%p}`,
 * `${VAR%%p}`, `${VAR/p/r}`, `${VAR//p/r}`, single and double quotes, and the
 * active escape character. It records the variables it found set and unset.
 */

/** Variables visible to expansion. `undefined` = unset (an empty string is set). */
export interface LexEnv {
  get(name: string): string | undefined;
}

export interface LexOptions {
  /** Keep quote characters in the result (heredoc delimiter detection). */
  rawQuotes?: boolean;
  /** Keep escape characters in the result. */
  rawEscapes?: boolean;
  /** Treat quotes as ordinary characters (heredoc bodies). */
  skipProcessQuotes?: boolean;
  /** Leave references to unset variables as written. */
  skipUnsetEnv?: boolean;
}

export interface LexResult {
  /** The word with quotes removed and variables expanded (spaces kept). */
  value: string;
  /** The same, split into words on unquoted whitespace after expansion. */
  words: string[];
  /** Variables found set. */
  used: Set<string>;
  /** Variables referenced but unset. */
  unset: Set<string>;
}

/** A word could not be expanded (syntax error or `${VAR:?message}`). */
export class ShellLexError extends SlipwayError {
  constructor(message: string, readonly word: string) {
    super('DOCKERFILE_EXPANSION', `failed to process "${word}": ${message}`, {
      hint: 'check the quoting and ${...} syntax of this word; escape a literal $ as \\$',
    });
  }
}

class LexFailure extends Error {}

class LacksBrace extends LexFailure {
  constructor() {
    super("syntax error: missing '}'");
  }
}

/** A LexEnv over a plain object or Map. */
export function lexEnv(vars: Record<string, string> | ReadonlyMap<string, string>): LexEnv {
  if (vars instanceof Map) return { get: (k) => vars.get(k) };
  const rec = vars as Record<string, string>;
  return { get: (k) => (Object.prototype.hasOwnProperty.call(rec, k) ? rec[k] : undefined) };
}

const EMPTY_ENV: LexEnv = { get: () => undefined };
const LETTER = /^\p{L}$/u;
const DIGIT = /^\p{Nd}$/u;
const SPACE = /^\s$/u;
const SPECIAL_PARAMS = new Set(['@', '*', '#', '?', '-', '$', '!', '0']);

class Words {
  private buf = '';
  private inWord = false;
  readonly list: string[] = [];

  addChar(ch: string): void {
    if (SPACE.test(ch)) {
      if (this.inWord && this.buf.length > 0) {
        this.list.push(this.buf);
        this.buf = '';
        this.inWord = false;
      }
      return;
    }
    this.addRawChar(ch);
  }

  addRawChar(ch: string): void {
    this.buf += ch;
    this.inWord = true;
  }

  addString(s: string): void {
    for (const ch of s) this.addChar(ch);
  }

  addRawString(s: string): void {
    this.buf += s;
    this.inWord = true;
  }

  finish(): string[] {
    if (this.buf.length > 0) {
      this.list.push(this.buf);
      this.buf = '';
      this.inWord = false;
    }
    return this.list;
  }
}

class WordScanner {
  private readonly chars: string[];
  private pos = 0;
  private rawEscapes: boolean;
  readonly used = new Set<string>();
  readonly unset = new Set<string>();

  constructor(word: string, private readonly escape: string, private readonly env: LexEnv, private readonly opts: LexOptions) {
    this.chars = Array.from(word);
    this.rawEscapes = opts.rawEscapes === true;
  }

  private peek(): string | undefined {
    return this.chars[this.pos];
  }

  private next(): string | undefined {
    const ch = this.chars[this.pos];
    if (ch !== undefined) this.pos++;
    return ch;
  }

  /** Scans until `stop` (consumed) or the end of input. */
  processStopOn(stop: string | undefined, rawEscapes: boolean): { value: string; words: string[] } {
    const saved = this.rawEscapes;
    this.rawEscapes = rawEscapes;
    try {
      let result = '';
      const words = new Words();
      for (;;) {
        const ch = this.peek();
        if (ch === undefined) break;
        if (stop !== undefined && ch === stop) {
          this.next();
          return { value: result, words: words.finish() };
        }
        if (ch === '$') {
          const tmp = this.processDollar();
          result += tmp;
          words.addString(tmp);
          continue;
        }
        if (ch === '<') {
          const tmp = this.processPossibleHeredoc();
          result += tmp;
          words.addRawString(tmp);
          continue;
        }
        if (!this.opts.skipProcessQuotes && (ch === "'" || ch === '"')) {
          const tmp = ch === "'" ? this.processSingleQuote() : this.processDoubleQuote();
          result += tmp;
          words.addRawString(tmp);
          continue;
        }
        let c = this.next() as string;
        if (c === this.escape) {
          if (this.rawEscapes) {
            words.addRawChar(c);
            result += c;
          }
          const after = this.next();
          if (after === undefined) break;
          c = after;
          words.addRawChar(c);
        } else {
          words.addChar(c);
        }
        result += c;
      }
      if (stop !== undefined) throw new LexFailure(`unexpected end of statement while looking for matching ${stop}`);
      return { value: result, words: words.finish() };
    } finally {
      this.rawEscapes = saved;
    }
  }

  private processSingleQuote(): string {
    let result = '';
    const open = this.next() as string;
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const ch = this.next();
      if (ch === undefined) throw new LexFailure('unexpected end of statement while looking for matching single-quote');
      if (ch === "'") {
        if (this.opts.rawQuotes) result += ch;
        return result;
      }
      result += ch;
    }
  }

  private processDoubleQuote(): string {
    let result = '';
    const open = this.next() as string;
    if (this.opts.rawQuotes) result += open;
    for (;;) {
      const p = this.peek();
      if (p === undefined) throw new LexFailure('unexpected end of statement while looking for matching double-quote');
      if (p === '"') {
        this.next();
        if (this.opts.rawQuotes) result += p;
        return result;
      }
      if (p === '$') {
        result += this.processDollar();
        continue;
      }
      let ch = this.next() as string;
      if (ch === this.escape) {
        if (this.rawEscapes) result += ch;
        const after = this.peek();
        if (after === undefined) continue;
        if (after === '"' || after === '$' || after === this.escape) ch = this.next() as string;
      }
      result += ch;
    }
  }

  private processPossibleHeredoc(): string {
    this.next();
    if (this.peek() !== '<') return '<';
    this.next();
    let space = '';
    for (let ch = this.peek(); ch === ' ' || ch === '\t' || ch === '\r'; ch = this.peek()) {
      space += ch;
      this.next();
    }
    return '<<' + space;
  }

  private processName(): string {
    let name = '';
    for (let ch = this.peek(); ch !== undefined; ch = this.peek()) {
      if (name === '' && DIGIT.test(ch)) {
        while (this.peek() !== undefined && DIGIT.test(this.peek() as string)) name += this.next();
        return name;
      }
      if (name === '' && SPECIAL_PARAMS.has(ch)) return this.next() as string;
      if (!LETTER.test(ch) && !DIGIT.test(ch) && ch !== '_') break;
      name += this.next();
    }
    return name;
  }

  private getEnv(name: string): string | undefined {
    const v = this.env.get(name);
    if (v === undefined) this.unset.add(name);
    else this.used.add(name);
    return v;
  }

  private processDollar(): string {
    this.next();
    if (this.peek() !== '{') {
      const name = this.processName();
      if (name === '') return '$';
      const v = this.getEnv(name);
      if (v === undefined && this.opts.skipUnsetEnv) return '$' + name;
      return v ?? '';
    }
    this.next();
    const first = this.peek();
    if (first === undefined) throw new LexFailure("syntax error: missing '}'");
    if (first === '{' || first === '}' || first === ':') throw new LexFailure('syntax error: bad substitution');
    const name = this.processName();
    let ch = this.next();
    if (ch === undefined) throw new LacksBrace();
    let chs = ch;
    if (ch === '}') {
      const v = this.getEnv(name);
      if (v === undefined && this.opts.skipUnsetEnv) return `\${${name}}`;
      return v ?? '';
    }
    let nullIsUnset = false;
    if (ch === ':') {
      nullIsUnset = true;
      ch = this.next();
      chs += ch ?? '';
    } else if (ch === '/') {
      return this.processReplace(name);
    } else if (ch !== '+' && ch !== '-' && ch !== '?' && ch !== '#' && ch !== '%') {
      throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
    }
    const patternOp = ch === '#' || ch === '%';
    if (nullIsUnset && patternOp) throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
    let word: string;
    try {
      word = this.processStopOn('}', patternOp).value;
    } catch (e) {
      if (this.peek() === undefined) throw new LexFailure("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    const set = value !== undefined;
    if (!set && this.opts.skipUnsetEnv) return `\${${name}${chs}${word}}`;
    const empty = !set || (nullIsUnset && value === '');
    switch (ch) {
      case '-':
        return empty ? word : (value as string);
      case '+':
        return empty ? '' : word;
      case '?':
        if (!set) throw new LexFailure(`${name}: ${word !== '' ? word : 'is not allowed to be unset'}`);
        if (nullIsUnset && value === '') throw new LexFailure(`${name}: ${word !== '' ? word : 'is not allowed to be empty'}`);
        return value as string;
      case '#':
      case '%': {
        let greedy = false;
        if (word.startsWith(ch)) {
          greedy = true;
          word = word.slice(1);
        }
        return ch === '%' ? trimSuffix(word, value ?? '', greedy) : trimPrefix(word, value ?? '', greedy);
      }
      default:
        throw new LexFailure(`unsupported modifier (${chs}) in substitution`);
    }
  }

  private processReplace(name: string): string {
    const all = this.peek() === '/';
    if (all) this.next();
    let pattern: string;
    try {
      pattern = this.processStopOn('/', true).value;
    } catch (e) {
      if (this.peek() === undefined) throw new LexFailure("syntax error: missing '/' in ${}");
      throw e;
    }
    let replacement: string;
    try {
      replacement = this.processStopOn('}', true).value;
    } catch (e) {
      if (this.peek() === undefined) throw new LexFailure("syntax error: missing '}'");
      throw e;
    }
    const value = this.getEnv(name);
    if (value === undefined && this.opts.skipUnsetEnv) return `\${${name}/${pattern}/${replacement}}`;
    const re = shellPatternToRegExp(pattern, true, false, all ? 'gu' : 'u');
    return (value ?? '').replace(re, () => replacement);
  }
}

/**
 * Converts a `${VAR#pattern}`-style pattern (`*`, `?`, `\` escapes; no bracket
 * expressions) to a RegExp. `greedy` picks `.*` over `.*?`.
 */
export function shellPatternToRegExp(pattern: string, greedy: boolean, anchored: boolean, flags = 'u'): RegExp {
  const chars = Array.from(pattern);
  let out = anchored ? '^' : '';
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i] as string;
    if (c === '*') {
      out += greedy ? '.*' : '.*?';
    } else if (c === '?') {
      out += '.';
    } else if (c === '\\') {
      const n = chars[i + 1];
      if (n === '}' || n === '/') continue;
      if (n !== '*' && n !== '?' && n !== '\\') throw new LexFailure(`invalid pattern (${pattern}) in substitution: invalid escape '\\${n ?? ''}'`);
      out += '\\' + n;
      i++;
    } else if ('[]{}.+()|^$'.includes(c)) {
      out += '\\' + c;
    } else {
      out += c;
    }
  }
  return new RegExp(out, flags);
}

function trimPrefix(pattern: string, value: string, greedy: boolean): string {
  const m = shellPatternToRegExp(pattern, greedy, true).exec(value);
  return m ? value.slice(m.index + m[0].length) : value;
}

/** Reverses a pattern keeping `\x` escapes in order (`a\*c` -> `c\*a`). */
export function reversePattern(pattern: string): string {
  const chars = Array.from(pattern);
  const out: string[] = new Array<string>(chars.length);
  const last = chars.length - 1;
  for (let i = 0; i <= last; ) {
    const c = chars[i] as string;
    const o = last - i;
    if (c === '\\' && i !== last) {
      out[o - 1] = c;
      out[o] = chars[i + 1] as string;
      i += 2;
    } else {
      out[o] = c;
      i++;
    }
  }
  return out.join('');
}

function reverse(s: string): string {
  return Array.from(s).reverse().join('');
}

function trimSuffix(pattern: string, value: string, greedy: boolean): string {
  return reverse(trimPrefix(reversePattern(pattern), reverse(value), greedy));
}

function hasSpecial(word: string, escape: string): boolean {
  for (let i = 0; i < word.length; i++) {
    const c = word[i];
    if (c === '$' || c === "'" || c === '"' || c === '<' || c === escape) return true;
  }
  return false;
}

/** The lexer. Stateless between calls; cheap to create. */
export class ShellLexer {
  constructor(readonly escape: string = '\\', readonly options: LexOptions = {}) {}

  /** Expands `word`; throws ShellLexError on a syntax error or a failed `${VAR?msg}`. */
  process(word: string, env: LexEnv = EMPTY_ENV): LexResult {
    if (!hasSpecial(word, this.escape)) {
      // Nothing to expand, unquote or unescape: the common case, kept allocation-light.
      return { value: word, words: word.split(/\s+/u).filter((w) => w !== ''), used: new Set(), unset: new Set() };
    }
    const sc = new WordScanner(word, this.escape, env, this.options);
    try {
      const r = sc.processStopOn(undefined, this.options.rawEscapes === true);
      return { value: r.value, words: r.words, used: sc.used, unset: sc.unset };
    } catch (e) {
      if (e instanceof LexFailure) throw new ShellLexError(e.message, word);
      throw e;
    }
  }

  /** One word: quotes removed, variables expanded, spaces kept. */
  expandWord(word: string, env: LexEnv = EMPTY_ENV): string {
    return this.process(word, env).value;
  }

  /** Words split on unquoted whitespace after expansion. */
  expandWords(word: string, env: LexEnv = EMPTY_ENV): string[] {
    return this.process(word, env).words;
  }
}
