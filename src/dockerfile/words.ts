/**
 * Word-level syntax of one logical line, as BuildKit's parser splits it:
 * keyword, builder flags (`--x=y` before the arguments), and the argument
 * shapes (whitespace list, quoted words, JSON array, heredoc markers).
 */
import { ShellLexer } from './shell-lex.js';
import type { HeredocHead } from './scanner.js';

const WS = /[\t\v\f\r ]+/;
const isSpace = (ch: string): boolean => /\s/u.test(ch);

/** `KEYWORD rest` -> keyword, flags, remaining argument text (trimmed). */
export function splitCommand(line: string, escape: string): { keyword: string; flags: string[]; rest: string } {
  const trimmed = line.trim();
  const m = WS.exec(trimmed);
  if (!m) return { keyword: trimmed, flags: [], rest: '' };
  const keyword = trimmed.slice(0, m.index);
  const after = trimmed.slice(m.index + m[0].length);
  const { rest, flags } = extractBuilderFlags(after, escape);
  return { keyword, flags, rest: rest.trim() };
}

/** Leading `--flag[=value]` words (quotes and escapes processed); stops at the first other word or `--`. */
export function extractBuilderFlags(line: string, escape: string): { rest: string; flags: string[] } {
  const flags: string[] = [];
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let word = '';
  let quote = '';
  let blankOk = false;
  for (let pos = 0; pos <= line.length; pos++) {
    const atEnd = pos === line.length;
    let ch = atEnd ? '' : (line[pos] as string);
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isSpace(ch)) continue;
      if (ch !== '-' || line[pos + 1] !== '-') return { rest: line.slice(pos), flags };
      phase = 'word';
    }
    if (atEnd) {
      if (word !== '--' && (blankOk || word.length > 0)) flags.push(word);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (word === '--') return { rest: line.slice(pos), flags };
        if (blankOk || word.length > 0) flags.push(word);
        word = '';
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = 'quote';
        continue;
      }
      if (ch === escape) {
        if (pos + 1 === line.length) continue;
        pos++;
        ch = line[pos] as string;
      }
      word += ch;
      continue;
    }
    // quote
    if (ch === quote) {
      phase = 'word';
      continue;
    }
    if (ch === escape) {
      if (pos + 1 === line.length) {
        phase = 'word';
        continue;
      }
      pos++;
      ch = line[pos] as string;
    }
    word += ch;
  }
  return { rest: '', flags };
}

/** Space-separated words keeping quotes and escapes (ENV, LABEL, ARG). */
export function parseQuotedWords(rest: string, escape: string): string[] {
  const words: string[] = [];
  const chars = Array.from(rest);
  let phase: 'spaces' | 'word' | 'quote' = 'spaces';
  let quote = '';
  let blankOk = false;
  let buf = '';
  for (let pos = 0; pos <= chars.length; pos++) {
    const atEnd = pos === chars.length;
    let ch = atEnd ? '' : (chars[pos] as string);
    if (phase === 'spaces') {
      if (atEnd) break;
      if (isSpace(ch)) continue;
      phase = 'word';
    }
    if (atEnd) {
      if (blankOk || buf.length > 0) words.push(buf);
      break;
    }
    if (phase === 'word') {
      if (isSpace(ch)) {
        phase = 'spaces';
        if (blankOk || buf.length > 0) words.push(buf);
        buf = '';
        blankOk = false;
        continue;
      }
      if (ch === "'" || ch === '"') {
        quote = ch;
        blankOk = true;
        phase = 'quote';
      }
      if (ch === escape) {
        if (pos + 1 === chars.length) continue;
        buf += ch;
        pos++;
        ch = chars[pos] as string;
      }
      buf += ch;
      continue;
    }
    if (ch === quote) phase = 'word';
    if (ch === escape && quote !== "'") {
      if (pos + 1 === chars.length) {
        phase = 'word';
        continue;
      }
      pos++;
      buf += ch;
      ch = chars[pos] as string;
    }
    buf += ch;
  }
  return words;
}

export function splitWhitespace(rest: string): string[] {
  return rest === '' ? [] : rest.split(/[\t\v\f\r ]+/);
}

export class NotStringArrayError extends Error {
  constructor() {
    super('when using JSON array syntax, arrays must be comprised of strings only');
  }
}

/** A JSON array of strings, or undefined when `rest` is not a JSON array (then shell form applies). Throws NotStringArrayError. */
export function parseJsonArray(rest: string): string[] | undefined {
  const t = rest.replace(/^\s+/, '');
  if (!t.startsWith('[')) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(t);
  } catch {
    return undefined;
  }
  if (!Array.isArray(parsed)) return undefined;
  if (!parsed.every((x) => typeof x === 'string')) throw new NotStringArrayError();
  return parsed as string[];
}

const HEREDOC_RE = /^(\d*)<<(-?)\s*([^<]*)$/;

/** A heredoc marker word (`<<EOF`, `<<-"EOF"`, `3<<EOF`), or undefined. */
export function parseHeredocMarker(word: string): HeredocHead | undefined {
  const m = HEREDOC_RE.exec(word);
  if (!m) return undefined;
  const rest = m[3] as string;
  if (rest === '') return undefined;
  let plain: string[];
  let raw: string[];
  try {
    plain = new ShellLexer('\\', { skipUnsetEnv: true }).expandWords(rest);
    raw = new ShellLexer('\\', { skipUnsetEnv: true, rawQuotes: true }).expandWords(rest);
  } catch {
    return undefined;
  }
  if (plain.length !== 1) return undefined;
  const quotes = (s: string): number => (s.match(/['"]/g) ?? []).length;
  const name = plain[0] as string;
  return { name, expand: quotes(name) === quotes(raw[0] ?? ''), chomp: m[2] === '-', fd: m[1] ? Number(m[1]) : 0 };
}

/** Heredoc markers of a whole logical line, in order. */
export function heredocsOfLine(line: string): HeredocHead[] {
  let words: string[];
  try {
    words = new ShellLexer('\\', { rawQuotes: true, rawEscapes: true, skipUnsetEnv: true }).expandWords(line);
  } catch {
    return [];
  }
  const out: HeredocHead[] = [];
  for (const w of words) {
    const h = parseHeredocMarker(w);
    if (h) out.push(h);
  }
  return out;
}
