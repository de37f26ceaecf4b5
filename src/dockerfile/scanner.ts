/**
 * Splits Dockerfile text into logical lines the way BuildKit's parser does:
 * leading whitespace dropped, comment lines dropped (also inside
 * continuations), the escape character at the end of a line continues it
 * (unless escaped), empty continuation lines skipped with a warning, and
 * heredoc bodies read after the line that opens them.
 */

export interface HeredocHead {
  name: string;
  expand: boolean;
  chomp: boolean;
  fd: number;
}

export interface ScannedHeredoc extends HeredocHead {
  /** Raw body, each line with its newline. */
  content: string;
}

export interface LogicalLine {
  text: string;
  /** 1-based first and last physical line. */
  startLine: number;
  endLine: number;
  /** 1-based column of the first non-blank character of the first line. */
  column: number;
  heredocs: ScannedHeredoc[];
  /** Line numbers of empty continuation lines. */
  emptyContinuations: number[];
  /** Set when a heredoc was not terminated before the end of the file. */
  unterminated?: string;
}

function splitPhysical(text: string): string[] {
  const out: string[] = [];
  let start = 0;
  for (;;) {
    const i = text.indexOf('\n', start);
    if (i < 0) {
      if (start < text.length) out.push(text.slice(start));
      return out;
    }
    out.push(text.slice(start, i + 1));
    start = i + 1;
  }
}

const trimNewline = (s: string): string => s.replace(/[\r\n]+$/, '');
const isComment = (s: string): boolean => /^\s*#/.test(s);

function continuationRegex(escape: string): RegExp {
  const e = escape === '\\' ? '\\\\' : '`';
  return new RegExp(`([^${e}])${e}[ \\t]*$|^${e}[ \\t]*$`);
}

/**
 * Scans `text`. `heredocsOf(line)` is asked, for each logical line, which
 * heredocs it opens (depends on the instruction; see parse.ts).
 */
export function scanLogicalLines(text: string, escape: string, heredocsOf: (line: string) => HeredocHead[]): LogicalLine[] {
  const lines = splitPhysical(text.startsWith('\ufeff') ? text.slice(1) : text);
  const cont = continuationRegex(escape);
  const trimCont = (s: string): [string, boolean] => (cont.test(s) ? [s.replace(cont, '$1'), false] : [s, true]);
  const out: LogicalLine[] = [];
  let i = 0;
  while (i < lines.length) {
    const raw = trimNewline(lines[i] as string);
    i++;
    const startLine = i;
    const stripped = raw.replace(/^\s+/, '');
    if (stripped === '' || stripped.startsWith('#')) continue;
    const column = raw.length - stripped.length + 1;
    let [buf, end] = trimCont(stripped);
    const empties: number[] = [];
    while (!end && i < lines.length) {
      const next = lines[i] as string;
      i++;
      if (isComment(next)) continue;
      const t = trimNewline(next);
      if (t.trim() === '') {
        empties.push(i);
        continue;
      }
      const [piece, done] = trimCont(t);
      buf += piece;
      end = done;
    }
    const logical: LogicalLine = { text: buf, startLine, endLine: i, column, heredocs: [], emptyContinuations: empties };
    if (buf.includes('<<')) {
      for (const head of heredocsOf(buf)) {
        let content = '';
        let terminated = false;
        while (i < lines.length) {
          const bodyLine = lines[i] as string;
          i++;
          let candidate = trimNewline(bodyLine);
          if (head.chomp) candidate = candidate.replace(/^\t+/, '');
          if (candidate === head.name) {
            terminated = true;
            break;
          }
          content += bodyLine;
        }
        logical.heredocs.push({ ...head, content });
        if (!terminated) {
          logical.unterminated = head.name;
          break;
        }
      }
      logical.endLine = i;
    }
    out.push(logical);
  }
  return out;
}
