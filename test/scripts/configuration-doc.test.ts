/**
 * docs/configuration.md against the real loaders: every documented key is one the loader reads
 * (setting it to a value of the wrong type makes the loader complain about exactly that key),
 * and every key the examples and `npm start` use is documented. The doc cannot list a key the
 * code ignores, or miss one the shipped configs rely on.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { writeDevConfigs, writeDevServerConfig } from '../../scripts/start';
import { parseConfig } from '../../server/config';
import { parseSignerConfig } from '../../signer/config';
import { EXAMPLES, productionLayout, ROOT } from './examples';

type Obj = Record<string, unknown>;
const DOC = fs.readFileSync(path.join(ROOT, 'docs/configuration.md'), 'utf8');

/** The keys in the first column of the table under `## <heading>`. */
function documentedKeys(heading: string): string[] {
  const start = DOC.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`docs/configuration.md has no "## ${heading}" section`);
  const rest = DOC.slice(start + heading.length + 5);
  const end = rest.search(/\n## /);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^\| `([a-z_.]+)` \|/gm)].map((m) => m[1] as string);
}

function leafPaths(o: Obj, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) => (typeof v === 'object' && v !== null && !Array.isArray(v) ? leafPaths(v as Obj, `${prefix}${k}.`) : [`${prefix}${k}`]));
}

function withKey(base: Obj, key: string, value: unknown): Obj {
  const copy = JSON.parse(JSON.stringify(base)) as Obj;
  const parts = key.split('.');
  let o = copy;
  for (const p of parts.slice(0, -1)) {
    if (typeof o[p] !== 'object' || o[p] === null) o[p] = {};
    o = o[p] as Obj;
  }
  o[parts[parts.length - 1] as string] = value;
  return copy;
}

/** The loader's complaint when `key` holds a value of the wrong type, or '' when it has none. */
function complaint(load: (raw: Obj) => unknown, base: Obj, key: string): string {
  try {
    load(withKey(base, key, { wrong: 'type' }));
    return '';
  } catch (e) {
    return (e as Error).message;
  }
}

const readJson = (f: string) => JSON.parse(fs.readFileSync(f, 'utf8')) as Obj;

describe('docs/configuration.md', () => {
  let prod: ReturnType<typeof productionLayout>;
  let startDir: string;
  beforeAll(() => {
    prod = productionLayout();
    startDir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-config-doc-'));
  });
  afterAll(() => {
    fs.rmSync(prod.dir, { recursive: true, force: true });
    fs.rmSync(startDir, { recursive: true, force: true });
  });

  const serverBases = () => [
    { base: readJson(path.join(EXAMPLES, 'dev/server.json')), dir: path.join(EXAMPLES, 'dev') },
    { base: readJson(prod.server), dir: prod.dir },
  ];
  const signerBases = () => [
    { base: readJson(path.join(EXAMPLES, 'dev/signer.json')), dir: path.join(EXAMPLES, 'dev') },
    { base: readJson(prod.signer), dir: prod.dir },
  ];
  /** does the server loader read `key` (in one of the base configs)? */
  const serverReads = (key: string) => serverBases().some(({ base, dir }) => complaint((raw) => parseConfig(raw, dir), base, key).includes(key));
  const signerReads = (key: string) =>
    signerBases().some(({ base, dir }) => {
      const msg = complaint((raw) => parseSignerConfig(raw, dir, {}), base, key);
      return msg.includes(key) && !msg.includes(`${key}: unknown setting`);
    });

  it('the probe tells keys the loaders read from keys they do not', () => {
    expect(serverReads('server.http_addr')).toBe(true);
    expect(serverReads('server.no_such_setting')).toBe(false);
    expect(signerReads('server.grpc_addr')).toBe(true);
    expect(signerReads('server.no_such_setting')).toBe(false);
  });

  it('documents only keys vouch-server reads', () => {
    const keys = documentedKeys('vouch-server');
    expect(keys.length).toBeGreaterThanOrEqual(20);
    expect(keys.filter((k) => !serverReads(k))).toEqual([]);
  });

  it('documents only keys vouch-signer reads', () => {
    const keys = documentedKeys('vouch-signer');
    expect(keys.length).toBeGreaterThanOrEqual(8);
    expect(keys.filter((k) => !signerReads(k))).toEqual([]);
  });

  it('documents every key the example configs and npm start use', () => {
    const files = writeDevConfigs({ port: 4443, data: path.join(startDir, 'data'), signerPort: 0 });
    writeDevServerConfig(files.serverConfig, 4443, 7899);
    const server = [path.join(EXAMPLES, 'dev/server.json'), prod.server, files.serverConfig];
    const signer = [path.join(EXAMPLES, 'dev/signer.json'), prod.signer, files.signerConfig];
    const serverDoc = new Set(documentedKeys('vouch-server'));
    const signerDoc = new Set(documentedKeys('vouch-signer'));
    expect(server.flatMap((f) => leafPaths(readJson(f))).filter((k) => !serverDoc.has(k))).toEqual([]);
    expect(signer.flatMap((f) => leafPaths(readJson(f))).filter((k) => !signerDoc.has(k))).toEqual([]);
  });
});
