#!/usr/bin/env node
/**
 * vouch-server: the Notary 0.7 compatible metadata server.
 *
 *   vouch-server --config server.json [--port N] [--data DIR]
 *
 * `--port` (or VOUCH_SERVER_PORT) replaces the port of server.http_addr; `--data DIR` (or
 * VOUCH_SERVER_DATA) stores metadata in SQLite at DIR/server.db. Prints the URL when listening.
 *
 * Exit codes: 0 stopped by a signal, 1 could not start (storage, key service, TLS, listen),
 * 2 bad configuration or usage.
 */
import './heap'; // first: heap flags before anything allocates
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Command, CommanderError } from 'commander';
import type { Logger } from 'pino';
import type { KeyService } from '../signer/api';
import { GrpcKeyService } from '../signer/client';
import { LocalKeyService } from '../signer/local';
import { ConfigError, loadConfig, redactConfig, ServerConfig } from './config';
import { createLogger } from './log';
import { readTlsAndAuth, RunningServer, startServer } from './server';
import { openStore } from './storage';

function keyServiceFor(cfg: ServerConfig, log: Logger): KeyService {
  const t = cfg.trustService;
  switch (t.type) {
    case 'local':
      log.warn('trust_service.type is "local": online keys live in this process and are lost on restart (development and tests only)');
      return new LocalKeyService();
    case 'remote':
      return new GrpcKeyService(
        { hostname: t.hostname, port: t.port, tls_ca_file: t.tlsCaFile, tls_client_cert: t.tlsClientCert, tls_client_key: t.tlsClientKey },
        { logger: { warn: (m: string) => log.warn(m), info: (m: string) => log.info(m) } },
      );
    default: {
      const never: never = t;
      throw new Error(`unknown trust service ${JSON.stringify(never)}`);
    }
  }
}

async function serve(opts: { config: string; port?: string; data?: string }): Promise<void> {
  let port: number | undefined;
  if (opts.port !== undefined) {
    if (!/^\d{1,5}$/.test(opts.port)) throw new ConfigError([`--port ${JSON.stringify(opts.port)} is not a port`]);
    port = Number(opts.port);
  }
  const cfg = loadConfig(opts.config, { ...(port !== undefined ? { port } : {}), ...(opts.data !== undefined ? { data: opts.data } : {}) });
  const log = createLogger(cfg.logging.level);
  log.info({ config: redactConfig(cfg) }, 'starting vouch-server');
  if (cfg.storage.backend === 'sqlite') fs.mkdirSync(path.dirname(cfg.storage.path), { recursive: true, mode: 0o700 });
  const { tls, auth } = readTlsAndAuth(cfg);
  const store = await openStore(cfg.storage.backend === 'sqlite' ? { backend: 'sqlite', path: cfg.storage.path } : { backend: 'postgres', url: cfg.storage.url });
  let keys: KeyService;
  try {
    keys = keyServiceFor(cfg, log);
  } catch (e) {
    await store.close().catch(() => undefined);
    throw e;
  }
  let running: RunningServer;
  try {
    running = await startServer({
      store,
      keys,
      keyAlgorithm: cfg.trustService.type === 'local' ? 'ed25519' : cfg.trustService.keyAlgorithm,
      log,
      auth,
      caching: { currentMaxAge: cfg.caching.currentMaxAge, consistentMaxAge: cfg.caching.consistentMaxAge },
      strictReads: cfg.caching.strictReads,
      gunPrefixes: cfg.gunPrefixes,
      ...(tls ? { tls } : {}),
      host: cfg.server.host,
      port: cfg.server.port,
    });
  } catch (e) {
    await keys.close().catch(() => undefined);
    await store.close().catch(() => undefined);
    throw e;
  }
  log.info({ url: running.url, auth: auth ? 'token' : 'none', storage: cfg.storage.backend, trust: cfg.trustService.type }, 'vouch-server listening');
  process.stdout.write(`vouch-server listening on ${running.url}\n`);
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function fail(e: unknown): never {
  const code = e instanceof ConfigError ? 2 : 1;
  process.stderr.write(`vouch-server: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(code);
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('vouch-server')
    .description('Notary 0.7 compatible TUF metadata server')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('-p, --port <port>', 'listen on this port (overrides server.http_addr)')
    .option('-d, --data <dir>', 'store metadata in SQLite at <dir>/server.db')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  try {
    program.parse(argv);
  } catch (e) {
    if (e instanceof CommanderError) process.exit(e.exitCode === 0 ? 0 : 2);
    throw e;
  }
  await serve(program.opts<{ config: string; port?: string; data?: string }>());
}

if (require.main === module) {
  main(process.argv).catch(fail);
}
