/**
 * Summarise a V8 CPU profile (`node --cpu-prof`, or `npm run bench -- --profile DIR`): where
 * the time went, by function (self time), by source file (self time) and by area of the code
 * (vouch's own folders, each dependency, node internals, garbage collection, idle).
 *
 *   node dist/scripts/bench/profile.js FILE.cpuprofile [--top N]
 */
import * as fs from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface ProfileSummary {
  totalMs: number;
  byFunction: Array<[string, number]>;
  /** vouch's own functions with the time of everything they called (each sample counted once per function) */
  inclusiveOwn: Array<[string, number]>;
  byFile: Array<[string, number]>;
  byArea: Array<[string, number]>;
}

/** The area a source URL belongs to: a vouch folder, a dependency, node itself, or a V8 pseudo-frame. */
export function areaOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === '') {
    const name = frame.functionName;
    if (name === '(idle)' || name === '(program)' || name === '(garbage collector)') return name;
    return '(native)';
  }
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (nm) return `dependency ${nm[1]}`;
  if (url.startsWith('node:')) return `node ${url.slice(5).split('/')[0]}`;
  const own = /\/dist\/([^/]+)\/(?:([^/]+)\/)?/.exec(url);
  if (own) return own[2] && !own[2].endsWith('.js') ? `vouch ${own[1]}/${own[2]}` : `vouch ${own[1]}`;
  return url;
}

export function summarise(profile: CpuProfile): ProfileSummary {
  const byId = new Map<number, ProfileNode>();
  for (const n of profile.nodes) byId.set(n.id, n);
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfUs = new Map<number, number>();
  profile.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)));
  const add = (m: Map<string, number>, k: string, us: number) => m.set(k, (m.get(k) ?? 0) + us);
  const fn = new Map<string, number>();
  const file = new Map<string, number>();
  const area = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const f = (byId.get(id) as ProfileNode).callFrame;
    const where = f.url ? `${f.url.replace(/^.*\/(dist|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
    add(fn, `${f.functionName || '(anonymous)'} ${where}`.trim(), us);
    add(file, f.url ? f.url.replace(/^.*\/(dist|node_modules)\//, '$1/') : f.functionName, us);
    add(area, areaOf(f), us);
  }
  const inclusive = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i] ?? 0;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = (byId.get(cur) as ProfileNode).callFrame;
      if (!/\/dist\/(server|signer|tuf|scripts)\//.test(f.url)) continue;
      const k = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/dist\//, 'dist/')}:${f.lineNumber + 1}`;
      if (seen.has(k)) continue;
      seen.add(k);
      add(inclusive, k, us);
    }
  });
  const sorted = (m: Map<string, number>) => [...m.entries()].map(([k, us]) => [k, us / 1000] as [string, number]).sort((a, b) => b[1] - a[1]);
  return { totalMs: (profile.endTime - profile.startTime) / 1000, byFunction: sorted(fn), inclusiveOwn: sorted(inclusive), byFile: sorted(file), byArea: sorted(area) };
}

function main(argv: string[]): void {
  const file = argv[0];
  if (!file) {
    process.stderr.write('usage: node dist/scripts/bench/profile.js FILE.cpuprofile [--top N]\n');
    process.exit(2);
  }
  const topIdx = argv.indexOf('--top');
  const top = topIdx >= 0 ? Number(argv[topIdx + 1]) : 25;
  const s = summarise(JSON.parse(fs.readFileSync(file, 'utf8')) as CpuProfile);
  const busy = s.byArea.filter(([k]) => k !== '(idle)').reduce((a, [, ms]) => a + ms, 0);
  const pct = (ms: number) => `${((100 * ms) / s.totalMs).toFixed(1).padStart(5)}%`;
  const show = (title: string, rows: Array<[string, number]>) => {
    process.stdout.write(`\n${title}\n`);
    for (const [k, ms] of rows.slice(0, top)) process.stdout.write(`  ${ms.toFixed(0).padStart(8)} ms ${pct(ms)}  ${k}\n`);
  };
  process.stdout.write(`${file}: ${s.totalMs.toFixed(0)} ms profiled, ${busy.toFixed(0)} ms busy (${pct(busy).trim()})\n`);
  show('by area (self time)', s.byArea);
  show('by file (self time)', s.byFile);
  show('by function (self time)', s.byFunction);
  show("vouch's functions (total time, callees included)", s.inclusiveOwn);
}

if (require.main === module) main(process.argv.slice(2));
