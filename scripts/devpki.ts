/**
 * Throwaway development TLS material: a CA plus server, signer and client certificates for
 * localhost. Made on first `npm start` in the data dir, and by tests in temp dirs. Never for
 * production: the CA key sits next to the certificates.
 */
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { buildCertificate, KU } from '../tuf/x509';
import { pemEncode } from '../tuf/keys';

export interface DevPki {
  dir: string;
  caCert: string;
  caKey: string;
  serverCert: string;
  serverKey: string;
  signerCert: string;
  signerKey: string;
  clientCert: string;
  clientKey: string;
}

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const DAY = 24 * 3600 * 1000;

function keyPem(k: crypto.KeyObject): string {
  return k.export({ format: 'pem', type: 'pkcs8' }).toString();
}

function paths(dir: string): DevPki {
  const p = (f: string) => path.join(dir, f);
  return {
    dir,
    caCert: p('ca.crt'),
    caKey: p('ca.key'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    signerCert: p('signer.crt'),
    signerKey: p('signer.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
  };
}

/** Create the dev PKI in `dir` unless it is already there; returns the file paths. */
export function ensureDevPki(dir: string, now: Date = new Date()): DevPki {
  const out = paths(dir);
  if (fs.existsSync(out.caCert) && fs.existsSync(out.clientKey)) return out;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const notBefore = new Date(now.getTime() - DAY);
  const notAfter = new Date(now.getTime() + 825 * DAY);
  const ca = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const caDer = buildCertificate({
    subjectCN: 'vouch development CA (throwaway)',
    subjectKey: ca,
    notBefore,
    notAfter: new Date(now.getTime() + 3650 * DAY),
    isCA: true,
    keyUsage: KU.certSign | KU.digitalSignature,
  });
  const leaf = (cn: string, eku: string[]) => {
    const key = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const certDer = buildCertificate({
      subjectCN: cn,
      subjectKey: key,
      issuerCN: 'vouch development CA (throwaway)',
      issuerKey: ca,
      notBefore,
      notAfter,
      keyUsage: KU.digitalSignature | KU.keyEncipherment,
      extKeyUsage: eku,
      dnsNames: ['localhost'],
      ipAddresses: ['127.0.0.1', '::1'],
    });
    return { cert: pemEncode('CERTIFICATE', certDer), key: keyPem(key) };
  };
  // the server's certificate doubles as its client certificate towards the signer, as in Notary
  const server = leaf('vouch-server', [SERVER_AUTH, CLIENT_AUTH]);
  const signer = leaf('vouch-signer', [SERVER_AUTH, CLIENT_AUTH]);
  const client = leaf('vouch-client', [CLIENT_AUTH]);
  const write = (f: string, s: string, mode: number) => fs.writeFileSync(f, s, { mode });
  write(out.caCert, pemEncode('CERTIFICATE', caDer), 0o644);
  write(out.caKey, keyPem(ca), 0o600);
  write(out.serverCert, server.cert, 0o644);
  write(out.serverKey, server.key, 0o600);
  write(out.signerCert, signer.cert, 0o644);
  write(out.signerKey, signer.key, 0o600);
  write(out.clientCert, client.cert, 0o644);
  write(out.clientKey, client.key, 0o600);
  return out;
}

if (require.main === module) {
  const dir = process.argv[2];
  if (!dir) {
    process.stderr.write('usage: devpki <dir>\n');
    process.exit(2);
  }
  const pki = ensureDevPki(dir);
  process.stdout.write(`dev PKI in ${pki.dir}\n`);
}
