/**
 * README.md's quickstart, run as written. The commands come from the README itself (the block
 * between `<!-- quickstart:begin -->` and `<!-- quickstart:end -->`), so the doc and this test
 * cannot drift: each line runs in one bash session, in order, and must exit with the code its
 * `# exit N` comment names (0 when it names none).
 *
 * "npm start" in the first terminal is `npm run build` then `node dist/scripts/start.js`; the
 * build already ran (pretest), so the test starts the script itself, on a free port and a temp
 * data dir chosen the way the README says users can (VOUCH_PORT, VOUCH_DATA). HOME is a temp dir,
 * so the trust dir (~/.notary) and ~/vouch-quickstart are the test's own.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort } from '../helpers/net';
import { run, startProcess, stopAll } from '../helpers/proc';

const ROOT = path.resolve(__dirname, '../..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

interface Step {
  line: string;
  /** 1-based line number in README.md */
  readmeLine: number;
  expectedExit: number;
}

/** The quickstart's shell lines, with the exit code each must end with. */
function quickstartSteps(readme: string): Step[] {
  const begin = readme.indexOf('<!-- quickstart:begin -->');
  const end = readme.indexOf('<!-- quickstart:end -->');
  if (begin < 0 || end < begin) throw new Error('README.md has no quickstart block (<!-- quickstart:begin --> ... <!-- quickstart:end -->)');
  const firstLine = readme.slice(0, begin).split('\n').length;
  const lines = readme.slice(begin, end).split('\n');
  const open = lines.findIndex((l) => l.startsWith('```sh'));
  const close = lines.findIndex((l, i) => i > open && l.startsWith('```'));
  if (open < 0 || close < 0) throw new Error('the quickstart block holds no ```sh code block');
  const steps: Step[] = [];
  for (let i = open + 1; i < close; i++) {
    const line = lines[i] as string;
    if (line.trim() === '' || line.trim().startsWith('#')) continue;
    const exit = /#\s*exit (\d+)\b/.exec(line);
    steps.push({ line, readmeLine: firstLine + i, expectedExit: exit ? Number(exit[1]) : 0 });
  }
  return steps;
}

/** One bash script: every step, then a check of its exit code that names the README line. */
function script(steps: Step[]): string {
  const out = ['set -u'];
  for (const s of steps) {
    out.push(`echo ${JSON.stringify(`>>> README.md:${s.readmeLine}`)}`);
    out.push(s.line);
    out.push(`rc=$?; if [ "$rc" -ne ${s.expectedExit} ]; then echo "README.md:${s.readmeLine} exited $rc, expected ${s.expectedExit}" >&2; exit 90; fi`);
  }
  out.push('echo ">>> quickstart done"');
  return `${out.join('\n')}\n`;
}

describe("README.md's quickstart, run against a started service", () => {
  const steps = quickstartSteps(README);
  let work: string;

  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-quickstart-'));
    fs.mkdirSync(path.join(work, 'home'));
  });
  afterAll(async () => {
    await stopAll();
    fs.rmSync(work, { recursive: true, force: true });
  });

  it('starts the service with `npm install && npm start`, the same command the README opens with', () => {
    const block = /<!-- quickstart:begin -->/.exec(README);
    const before = README.slice(0, block?.index ?? 0);
    expect(before).toMatch(/## Quickstart[\s\S]*```sh\nnpm install && npm start\n```/);
    expect(README.split('```sh\n')[1]?.split('\n').slice(0, 2)).toEqual([
      expect.stringMatching(/^npm install && npm start\s/),
      expect.stringMatching(/^npm install && npm test\s/),
    ]);
  });

  it('covers what a new user needs: init, sign, verify, a delegation, key rotation', () => {
    const text = steps.map((s) => s.line).join('\n');
    for (const cmd of [/^vouch init /m, /^vouch sign /m, /^vouch verify /m, /^vouch delegation add /m, /^vouch key rotate /m]) expect(text).toMatch(cmd);
    // at least one step proves verification can fail
    expect(steps.some((s) => s.expectedExit !== 0 && /vouch verify/.test(s.line))).toBe(true);
  });

  it('every quickstart line runs as written with the exit code it promises', async () => {
    const port = await freePort();
    const data = path.join(work, 'data');
    const service = startProcess(process.execPath, [path.join(ROOT, 'dist/scripts/start.js')], {
      cwd: ROOT,
      env: { ...process.env, VOUCH_PORT: String(port), VOUCH_DATA: data },
    });
    await service.waitFor(/server URL:\s+https:\/\/localhost:\d+/, 60000);
    expect(service.output()).toContain(`https://localhost:${port}`);

    const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: path.join(work, 'home'), VOUCH_DATA: data, TMPDIR: work, LANG: 'C.UTF-8' };
    const r = await run('bash', ['--noprofile', '--norc', '-c', script(steps)], { cwd: ROOT, env, timeoutMs: 240000 });
    const out = r.stdout + r.stderr;
    if (r.code !== 0) throw new Error(`quickstart failed (exit ${r.code}):\n${out.slice(-6000)}\nservice:\n${service.output().slice(-3000)}`);
    expect(out).toContain('>>> quickstart done');

    // what the steps did, as the README describes it
    const digest = (tag: string) => new RegExp(`vouch sign example\\.com/quickstart/app:${tag} --digest sha256:([0-9a-f]{64})`).exec(README)?.[1] as string;
    expect(out).toMatch(new RegExp(`v1\\s+${digest('v1')}\\s+1234\\s+targets\\n`));
    expect(out).toMatch(new RegExp(`v2\\s+${digest('v2')}\\s+2345\\s+targets/releases`));
    expect(out).toMatch(/not trusted: example\.com\/quickstart\/app:v1 is signed for sha256:/);
    expect(out).toMatch(/Successfully rotated root key/);
    expect(out).toMatch(new RegExp(`example\\.com/quickstart/app:v2 is trusted: sha256:${digest('v2')} size 2345 \\(role targets/releases\\)\\s*\\n>>> quickstart done`));
    // the user's files went to their home, not into the checkout
    expect(fs.existsSync(path.join(work, 'home/vouch-quickstart/releases-key.pem'))).toBe(true);
    expect(fs.existsSync(path.join(ROOT, 'releases-key.pem'))).toBe(false);
    expect(fs.readdirSync(path.join(work, 'home/.notary/private')).length).toBeGreaterThanOrEqual(4);

    service.child.kill('SIGINT');
    await new Promise((resolve) => service.child.once('exit', resolve));
    expect(service.child.exitCode).toBe(0);
  }, 300000);
});
