/**
 * The bench's bookkeeping: a wrk run with errors is never reported as a rate, ratios are
 * oriented so that above 1 means vouch is better, goals are judged on the right side, and
 * rewriting docs/benchmarks.md keeps the hand-written prose around the generated section.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BEGIN_MARK, END_MARK, markdownTable, median, ratioOf, Row, textTable, writeGeneratedSection } from '../../../scripts/bench/report';
import { parseWrkOutput } from '../../../scripts/bench/wrk';

const CLEAN_RUN = `Running 10s test @ https://localhost:4443/v2/example.com/a/_trust/tuf/timestamp.json
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms  810.33us  21.40ms   91.12%
    Req/Sec    21.43k     1.20k   23.10k    80.00%
  Latency Distribution
     50%    1.38ms
     75%    1.61ms
     90%    1.98ms
     99%    4.87ms
  213312 requests in 10.01s, 147.52MB read
Requests/sec:  21310.52
Transfer/sec:     14.74MB
`;

describe('parseWrkOutput', () => {
  it('reads the rate, the request count and the latency percentiles of a clean run', () => {
    const r = parseWrkOutput(CLEAN_RUN);
    expect(r.error).toBeUndefined();
    expect(r.requestsPerSec).toBe(21310.52);
    expect(r.requests).toBe(213312);
    expect(r.latency.p50).toBeCloseTo(1.38);
    expect(r.latency.p99).toBeCloseTo(4.87);
    expect(r.latency.max).toBeCloseTo(21.4);
  });

  it('marks a run with non-2xx answers as failed, however high its rate (an error page is not a served file)', () => {
    const r = parseWrkOutput(CLEAN_RUN.replace('Requests/sec:', '  Non-2xx or 3xx responses: 213312\nRequests/sec:'));
    expect(r.error).toMatch(/213312 non-2xx/);
  });

  it('marks a run with socket errors as failed', () => {
    const r = parseWrkOutput(CLEAN_RUN.replace('Requests/sec:', '  Socket errors: connect 0, read 12, write 0, timeout 3\nRequests/sec:'));
    expect(r.error).toMatch(/socket errors/);
  });

  it('marks output without a rate as failed', () => {
    expect(parseWrkOutput('unable to connect to localhost:4443 Connection refused').error).toMatch(/no rate/);
  });

  it('converts microseconds and seconds to milliseconds', () => {
    const r = parseWrkOutput(CLEAN_RUN.replace('     50%    1.38ms', '     50%  950.00us').replace('     99%    4.87ms', '     99%    1.20s'));
    expect(r.latency.p50).toBeCloseTo(0.95);
    expect(r.latency.p99).toBeCloseTo(1200);
  });
});

describe('the results table', () => {
  const throughput: Row = { workload: 'GET timestamp.json', unit: 'req/s', pair: 'p', better: 'higher', ours: { value: 9000 }, theirs: { value: 3000 } };
  const latency: Row = { workload: 'publish', unit: 'ms', pair: 'p', better: 'lower', ours: { value: 20 }, theirs: { value: 10 } };

  it('orients every ratio so that above 1 means vouch is better', () => {
    expect(ratioOf(throughput)).toBe(3);
    expect(ratioOf(latency)).toBe(0.5);
  });

  it('has no ratio when either side failed', () => {
    expect(ratioOf({ ...throughput, theirs: { value: 0, error: 'wrk exited with 1' } })).toBeNull();
    expect(ratioOf({ ...throughput, ours: { value: 0, error: 'boom' } })).toBeNull();
  });

  it('judges goals and says so in both tables', () => {
    const row: Row = { ...latency, goal: { text: 'no slower', check: (_o, _t, r) => r !== null && r >= 1 } };
    expect(textTable([row])).toMatch(/no slower: NOT met/);
    expect(markdownTable([{ ...row, ours: { value: 5 } }])).toMatch(/\| 2\.00x \| no slower: met \|/);
    expect(markdownTable([{ ...row, ours: { value: 0, error: 'exit 1' } }])).toMatch(/no slower: not measured/);
  });

  it('takes the median of odd and even samples', () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
  });
});

describe('writeGeneratedSection', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-bench-doc-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('replaces only the text between the markers, keeping the prose before and after', () => {
    const file = path.join(dir, 'benchmarks.md');
    fs.writeFileSync(file, `# Benchmarks\n\nintro prose\n\n${BEGIN_MARK}\nold results\n${END_MARK}\n\n## Analysis\n\nkept\n`);
    writeGeneratedSection(file, '## Latest results\n\nnew table');
    const text = fs.readFileSync(file, 'utf8');
    expect(text).toContain('intro prose');
    expect(text).toContain('## Analysis\n\nkept');
    expect(text).toContain('new table');
    expect(text).not.toContain('old results');
    expect(text.split(BEGIN_MARK)).toHaveLength(2);
  });

  it('appends a section to a file without markers, and creates a missing file', () => {
    const file = path.join(dir, 'plain.md');
    fs.writeFileSync(file, '# Notes\n');
    writeGeneratedSection(file, 'results');
    expect(fs.readFileSync(file, 'utf8')).toBe(`# Notes\n\n${BEGIN_MARK}\nresults\n${END_MARK}\n`);
    const missing = path.join(dir, 'missing.md');
    writeGeneratedSection(missing, 'results');
    expect(fs.readFileSync(missing, 'utf8')).toContain(`${BEGIN_MARK}\nresults\n${END_MARK}`);
  });
});
