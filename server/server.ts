/**
 * Assembling a running server from its parts: storage, key service, trust service, the HTTP
 * edge and a node http(s) server. main.ts builds the parts from the configuration; tests build
 * them directly (a real SQLite file, an in-process key service).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { KeyAlgorithm, KeyService } from '../signer/api';
import { TokenAuth } from './auth/token';
import type { ServerConfig } from './config';
import { createEdge, Edge } from './http/app';
import { ServerLimits } from './limits';
import { Metrics } from './metrics';
import { TrustService } from './service';
import type { TufStore } from './storage/types';

export interface ServerParts {
  store: TufStore;
  keys: KeyService;
  keyAlgorithm: KeyAlgorithm;
  log: Logger;
  auth?: TokenAuth | null;
  caching?: { currentMaxAge: number; consistentMaxAge: number };
  /** check the changefeed before answering from memory (several processes on one database) */
  strictReads?: boolean;
  gunPrefixes?: string[];
  /** PEM text; absent: plain HTTP */
  tls?: { cert: Buffer | string; key: Buffer | string; clientCa?: Buffer | string };
  host?: string;
  port?: number;
  now?: () => number;
  /** request bounds; default SERVER_LIMITS (tests lower them) */
  limits?: Partial<ServerLimits>;
}

export interface RunningServer {
  url: string;
  port: number;
  server: http.Server | https.Server;
  service: TrustService;
  edge: Edge;
  /** stop accepting, finish open requests, then close the key service and storage */
  close(): Promise<void>;
}

export async function startServer(parts: ServerParts): Promise<RunningServer> {
  const service = new TrustService({ store: parts.store, keys: parts.keys, keyAlgorithm: parts.keyAlgorithm, log: parts.log, now: parts.now });
  const edge = createEdge({
    service,
    log: parts.log,
    metrics: new Metrics(),
    auth: parts.auth ?? null,
    caching: parts.caching,
    gunPrefixes: parts.gunPrefixes,
    limits: parts.limits,
    strictReads: parts.strictReads,
  });
  const server = parts.tls
    ? https.createServer(
        {
          cert: parts.tls.cert,
          key: parts.tls.key,
          minVersion: 'TLSv1.2',
          ...(parts.tls.clientCa ? { ca: parts.tls.clientCa, requestCert: true, rejectUnauthorized: true } : {}),
        },
        edge.handle,
      )
    : http.createServer(edge.handle);
  server.keepAliveTimeout = 5000;
  server.headersTimeout = 30000;
  server.requestTimeout = 300000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(parts.port ?? 0, parts.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  const url = `${parts.tls ? 'https' : 'http'}://${host === '0.0.0.0' ? '127.0.0.1' : host}:${addr.port}`;
  let closing: Promise<void> | null = null;
  return {
    url,
    port: addr.port,
    server,
    service,
    edge,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // give open requests a moment, then cut the rest
          setTimeout(() => server.closeAllConnections(), 2000).unref();
        });
        await parts.keys.close().catch(() => undefined);
        await parts.store.close().catch(() => undefined);
      })();
      return closing;
    },
  };
}

/** The TLS material and token auth a config names, read from disk. */
export function readTlsAndAuth(cfg: ServerConfig): { tls?: ServerParts['tls']; auth: TokenAuth | null } {
  const tls = cfg.server.tls
    ? {
        cert: fs.readFileSync(cfg.server.tls.certFile),
        key: fs.readFileSync(cfg.server.tls.keyFile),
        ...(cfg.server.tls.clientCaFile ? { clientCa: fs.readFileSync(cfg.server.tls.clientCaFile) } : {}),
      }
    : undefined;
  const auth = cfg.auth
    ? new TokenAuth({
        realm: cfg.auth.realm,
        service: cfg.auth.service,
        issuer: cfg.auth.issuer,
        rootCertBundle: fs.readFileSync(cfg.auth.rootCertBundleFile, 'utf8'),
        autoRedirect: cfg.auth.autoRedirect,
      })
    : null;
  return { ...(tls ? { tls } : {}), auth };
}
