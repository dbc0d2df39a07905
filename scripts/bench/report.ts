/**
 * The bench's results table: one row per workload with vouch's figure, Notary's figure, the
 * ratio (always oriented so that > 1 means vouch is better) and the goal, printed as text and
 * written into docs/benchmarks.md between markers (the prose around them is kept).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';

export type Unit = 'req/s' | 'ms' | 'MB';

export interface Figure {
  value: number;
  /** why there is no trustworthy value (the row then shows it instead of a number) */
  error?: string;
  /** extra detail shown in the notes column, e.g. latency percentiles */
  detail?: string;
}

export interface Row {
  workload: string;
  unit: Unit;
  /** which vouch and which baseline, e.g. "vouch SQLite vs notary memory" */
  pair: string;
  ours: Figure;
  theirs: Figure | null;
  /** higher is better (throughput) or lower is better (latency, memory) */
  better: 'higher' | 'lower';
  /** e.g. ">= 2x"; with `check` deciding whether it was met */
  goal?: { text: string; check: (ours: number, theirs: number | null, ratio: number | null) => boolean };
  note?: string;
}

export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function ratioOf(row: Row): number | null {
  if (!row.theirs || row.theirs.error || row.ours.error) return null;
  if (row.ours.value <= 0 || row.theirs.value <= 0) return null;
  return row.better === 'higher' ? row.ours.value / row.theirs.value : row.theirs.value / row.ours.value;
}

function fmtValue(f: Figure | null, unit: Unit): string {
  if (!f) return '—';
  if (f.error) return `failed: ${f.error}`;
  switch (unit) {
    case 'req/s':
      return `${Math.round(f.value).toLocaleString('en-US')} req/s`;
    case 'ms':
      return `${f.value < 10 ? f.value.toFixed(1) : Math.round(f.value).toLocaleString('en-US')} ms`;
    case 'MB':
      return `${f.value.toFixed(0)} MB`;
    default: {
      const never: never = unit;
      return String(never);
    }
  }
}

function fmtRatio(r: number | null): string {
  return r === null ? '—' : `${r.toFixed(2)}x`;
}

function goalCell(row: Row): string {
  if (!row.goal) return '';
  if (row.ours.error || (row.theirs && row.theirs.error)) return `${row.goal.text}: not measured`;
  const met = row.goal.check(row.ours.value, row.theirs ? row.theirs.value : null, ratioOf(row));
  return `${row.goal.text}: ${met ? 'met' : 'NOT met'}`;
}

interface Cells {
  workload: string;
  pair: string;
  ours: string;
  theirs: string;
  ratio: string;
  goal: string;
  note: string;
}

function cells(row: Row): Cells {
  const notes = [row.ours.detail ? `vouch ${row.ours.detail}` : '', row.theirs?.detail ? `notary ${row.theirs.detail}` : '', row.note ?? ''].filter((s) => s !== '');
  return {
    workload: row.workload,
    pair: row.pair,
    ours: fmtValue(row.ours, row.unit),
    theirs: fmtValue(row.theirs, row.unit),
    ratio: fmtRatio(ratioOf(row)),
    goal: goalCell(row),
    note: notes.join('; '),
  };
}

const HEADERS: Cells = { workload: 'workload', pair: 'compared', ours: 'vouch', theirs: 'notary-server', ratio: 'ratio', goal: 'goal', note: 'notes' };
const COLUMNS: Array<keyof Cells> = ['workload', 'pair', 'ours', 'theirs', 'ratio', 'goal'];

/** A plain-text table for the terminal (notes on their own lines below each row). */
export function textTable(rows: Row[]): string {
  const all = [HEADERS, ...rows.map(cells)];
  const width = (k: keyof Cells) => Math.max(...all.map((c) => c[k].length));
  const line = (c: Cells) => COLUMNS.map((k) => c[k].padEnd(width(k))).join('  ').trimEnd();
  const out = [line(HEADERS), COLUMNS.map((k) => '-'.repeat(width(k))).join('  ')];
  for (const c of all.slice(1)) {
    out.push(line(c));
    if (c.note) out.push(`    ${c.note}`);
  }
  return out.join('\n');
}

function mdEscape(s: string): string {
  return s.replace(/\|/g, '\\|');
}

export function markdownTable(rows: Row[]): string {
  const keys: Array<keyof Cells> = [...COLUMNS, 'note'];
  const out = [`| ${keys.map((k) => HEADERS[k]).join(' | ')} |`, `| ${keys.map(() => '---').join(' | ')} |`];
  for (const c of rows.map(cells)) out.push(`| ${keys.map((k) => mdEscape(c[k])).join(' | ')} |`);
  return out.join('\n');
}

export interface Machine {
  cpus: number;
  cpuModel: string;
  memory: string;
  node: string;
  kernel: string;
}

export function describeMachine(): Machine {
  let cpuModel = 'unknown';
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(fs.readFileSync('/proc/cpuinfo', 'utf8'));
    if (m) cpuModel = (m[1] as string).trim();
  } catch {
    // not Linux
  }
  return {
    cpus: os.availableParallelism(),
    cpuModel,
    memory: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    kernel: `${os.type()} ${os.release()}`,
  };
}

export const BEGIN_MARK = '<!-- bench:begin (written by `npm run bench`; edit the prose outside the markers) -->';
export const END_MARK = '<!-- bench:end -->';

/** Replace the generated section of the doc (or append one if the markers are missing). */
export function writeGeneratedSection(file: string, section: string): void {
  const block = `${BEGIN_MARK}\n${section.trimEnd()}\n${END_MARK}`;
  let text = '';
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    text = '# Benchmarks\n\n';
  }
  const start = text.indexOf(BEGIN_MARK.slice(0, 20));
  const end = text.indexOf(END_MARK);
  const next = start >= 0 && end > start ? text.slice(0, start) + block + text.slice(end + END_MARK.length) : `${text.trimEnd()}\n\n${block}\n`;
  fs.writeFileSync(file, next);
}
