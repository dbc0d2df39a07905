/** Shared by the keys.example and configuration-doc tests. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

export const ROOT = path.resolve(__dirname, '../..');
export const EXAMPLES = path.join(ROOT, 'keys.example');
export const DEV_TLS = path.join(EXAMPLES, 'dev-tls');

/**
 * The production examples name files next to them (tls/...). Lay them out in a temp dir with
 * throwaway material in those places, so the loaders check everything, file access included.
 */
export function productionLayout(): { dir: string; server: string; signer: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vouch-keys-example-'));
  fs.mkdirSync(path.join(dir, 'tls'));
  const copies: Record<string, string> = {
    'server.crt': 'server.crt',
    'server.key': 'server.key',
    'server-client.crt': 'server.crt',
    'server-client.key': 'server.key',
    'internal-ca.crt': 'ca.crt',
    'registry-token-signer.pem': 'ca.crt',
    'signer.crt': 'signer.crt',
    'signer.key': 'signer.key',
  };
  for (const [to, from] of Object.entries(copies)) fs.copyFileSync(path.join(DEV_TLS, from), path.join(dir, 'tls', to));
  for (const f of ['server.json', 'signer.json']) fs.copyFileSync(path.join(EXAMPLES, 'production', f), path.join(dir, f));
  return { dir, server: path.join(dir, 'server.json'), signer: path.join(dir, 'signer.json') };
}

