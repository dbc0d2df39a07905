/**
 * The HTTP edge. One request handler does, in order:
 *
 * 1. percent-decode and clean the path (301 for unclean paths, as Go's mux), route it;
 * 2. the hot path: metadata GETs (routes 3, 4, 5) and `GET /v2/` answered straight from the
 *    in-memory cache with a plain node handler, when the cache holds the answer and the
 *    request is authorised;
 * 3. everything else goes to the express app: GUN-prefix filter, token auth, the route
 *    handlers calling the trust service, and one error middleware that answers every failure
 *    with Notary's envelope.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import * as crypto from 'node:crypto';
import express from 'express';
import type { Logger } from 'pino';
import { publicKeyJson } from '../../tuf/keys';
import { isValidGun } from '../../tuf/roles';
import { accessDetail, TokenAuth } from '../auth/token';
import { JSON_CONTENT_TYPE, sendError, ServerError, toServerError, ValidationError } from '../errors';
import { SERVER_LIMITS, ServerLimits } from '../limits';
import { Metrics, METRICS_CONTENT_TYPE } from '../metrics';
import { Published, TrustService } from '../service';
import type { StoredFile } from '../storage/types';
import { byChecksumKey, byVersionKey, CachedFile, ChangeWatch, MetadataCache } from './cache';
import { readPublishRequest } from './multipart';
import { sendBody } from './send';
import { matchRoute, operationName, parsePath, requiredAccess, Route, routeGun } from './routes';

export interface CachingConfig {
  /** seconds; 0 turns caching headers into no-store (spec 1.3) */
  currentMaxAge: number;
  consistentMaxAge: number;
}

export interface EdgeDeps {
  service: TrustService;
  log: Logger;
  metrics?: Metrics;
  cache?: MetadataCache;
  /** token auth; null or absent: no auth (local development) */
  auth?: TokenAuth | null;
  caching?: CachingConfig;
  /** repositories.gun_prefixes; empty: every GUN */
  gunPrefixes?: string[];
  /**
   * Check the changefeed before answering from memory, so a read through this process sees a
   * publish made through another one the moment it returned (several processes on one
   * database). Without it, other processes' changes arrive by notification, a moment later.
   */
  strictReads?: boolean;
  /** request bounds (tests lower them); default SERVER_LIMITS */
  limits?: Partial<ServerLimits>;
}

/** What the front handler learnt about a request, for the express side. */
interface RequestContext {
  id: string;
  route: Route;
  started: bigint;
  path: string;
}

const TEXT = 'text/plain; charset=utf-8';
const DEFAULT_CACHING: CachingConfig = { currentMaxAge: 300, consistentMaxAge: 2592000 };

/** Go's RFC 1123 layout in UTC, as an HTTP date. */
function httpDate(d: Date): string {
  return d.toUTCString();
}

function cacheControl(maxAge: number, current: boolean): { cacheControl: string; pragma: boolean } {
  if (maxAge <= 0) return { cacheControl: 'max-age=0, no-cache, no-store', pragma: true };
  return {
    cacheControl: `public, max-age=${maxAge}, s-maxage=${maxAge}${current ? ', must-revalidate' : ''}`,
    pragma: false,
  };
}

export interface Edge {
  /** the node request handler to give to http(s).createServer */
  handle(req: IncomingMessage, res: ServerResponse): void;
  cache: MetadataCache;
  metrics: Metrics;
}

export function createEdge(deps: EdgeDeps): Edge {
  const { service, log } = deps;
  const metrics = deps.metrics ?? new Metrics();
  const cache = deps.cache ?? new MetadataCache();
  const auth = deps.auth ?? null;
  const caching = deps.caching ?? DEFAULT_CACHING;
  const prefixes = deps.gunPrefixes ?? [];
  const limits = { ...SERVER_LIMITS, ...deps.limits };
  const current = cacheControl(caching.currentMaxAge, true);
  const consistent = cacheControl(caching.consistentMaxAge, false);
  const contexts = new WeakMap<IncomingMessage, RequestContext>();
  const idPrefix = crypto.randomBytes(4).toString('hex');
  let counter = 0;
  const debug = () => log.isLevelEnabled('debug');

  service.ctx.store.onChange((gun) => cache.invalidate(gun));
  const store = service.ctx.store;
  const watch = deps.strictReads
    ? new ChangeWatch(
        cache,
        async (changeId, max) => (await store.changes({ changeId, records: max })).map((r) => ({ id: r.id, gun: r.gun })),
        (e) => log.error({ err: e instanceof Error ? e.message : String(e) }, 'cannot read the changefeed: not answering from memory'),
      )
    : null;
  metrics.gauge('vouch_metadata_cache_guns', 'GUNs whose metadata is held in memory.', () => cache.size);

  const gunAllowed = (gun: string) => prefixes.length === 0 || prefixes.some((p) => gun.startsWith(p));

  const finish = (ctx: RequestContext, method: string | undefined, status: number) => {
    const seconds = Number(process.hrtime.bigint() - ctx.started) / 1e9;
    metrics.observeRequest(operationName(ctx.route), method ?? '', status, seconds);
    return seconds;
  };

  const writeFile = (res: ServerResponse, f: CachedFile, kind: 'current' | 'consistent', id: string) => {
    const c = kind === 'current' ? current : consistent;
    const headers: Record<string, string | number> = {
      'Content-Type': TEXT,
      'Content-Length': f.body.length,
      'Cache-Control': c.cacheControl,
      'Last-Modified': f.lastModified,
      'X-Request-Id': id,
    };
    if (c.pragma) headers.Pragma = 'no-cache';
    res.writeHead(200, headers);
    sendBody(res, f.body);
  };

  // -------------------------------------------------------------------------------------------
  // The hot path: answered from memory, no express (with strict reads, after the shared
  // changefeed check)

  const tryFast = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext): boolean => {
    const r = ctx.route;
    let file: CachedFile | undefined;
    let kind: 'current' | 'consistent';
    switch (r.name) {
      case 'getCurrent':
        file = cache.getCurrent(r.gun, r.role, service.ctx.now());
        kind = 'current';
        break;
      case 'getByChecksum':
        file = cache.getConsistent(r.gun, byChecksumKey(r.role, r.checksum.toLowerCase()));
        kind = 'consistent';
        break;
      case 'getByVersion':
        file = cache.getConsistent(r.gun, byVersionKey(r.version, r.role));
        kind = 'consistent';
        break;
      case 'ping':
        if (auth) return false;
        res.writeHead(200, { 'Content-Type': TEXT, 'Content-Length': 2, 'X-Request-Id': ctx.id });
        res.end('{}');
        finish(ctx, req.method, 200);
        return true;
      default:
        return false;
    }
    if (!file) {
      metrics.cacheMiss();
      return false;
    }
    if (!gunAllowed(r.gun)) return false;
    if (auth) {
      const required = requiredAccess(r);
      if (required && !auth.authorize(req.headers.authorization, required).ok) return false;
    }
    metrics.cacheHit();
    writeFile(res, file, kind, ctx.id);
    const seconds = finish(ctx, req.method, 200);
    if (debug()) log.debug({ reqId: ctx.id, method: req.method, path: ctx.path, status: 200, ms: seconds * 1000, cached: true }, 'request');
    return true;
  };

  // -------------------------------------------------------------------------------------------
  // The express app: everything that is not a cache hit

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', false);

  const contextOf = (req: IncomingMessage): RequestContext => {
    const c = contexts.get(req);
    if (!c) throw new Error('request reached express without a context');
    return c;
  };

  const toCached = (file: StoredFile, validUntil: number): CachedFile => ({
    body: file.bytes,
    lastModified: httpDate(file.createdAt),
    validUntil,
  });

  /** What a publish stored, put in memory as the GETs that follow it would find it. */
  const fillPublished = (gun: string, published: Published, token: number): void => {
    for (const [role, answer] of published.current) {
      cache.put(gun, { kind: 'current', role }, toCached(answer.file, answer.validUntil), token);
    }
    const files = [...published.stored, ...[...published.current.values()].map((answer) => answer.file)];
    for (const file of files) {
      const f = toCached(file, Infinity);
      cache.put(gun, { kind: 'consistent', key: byChecksumKey(file.role, file.sha256) }, f, token);
      cache.put(gun, { kind: 'consistent', key: byVersionKey(file.version, file.role) }, f, token);
    }
  };

  const notFound = () => new ServerError('METADATA_NOT_FOUND', {}, 'metadata not found');

  const sendText = (res: ServerResponse, status: number, body: string | Buffer, contentType = TEXT) => {
    const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    res.statusCode = status;
    if (buf.length > 0) res.setHeader('Content-Type', contentType);
    res.setHeader('Content-Length', buf.length);
    res.end(buf);
  };

  /** GUN checks shared by every GUN route: the prefix allow-list (before auth) and validity. */
  const prefixCheck = (route: Route): void => {
    const gun = routeGun(route);
    if (gun === undefined || gunAllowed(gun)) return;
    if (route.name === 'update') {
      throw new ServerError('INVALID_GUN', `Require GUNs with prefix: [${prefixes.join(' ')}]`, `GUN ${gun} outside the allowed prefixes`);
    }
    throw new ServerError('METADATA_NOT_FOUND', undefined, `GUN ${gun} outside the allowed prefixes`);
  };

  const authorize = (req: IncomingMessage, res: ServerResponse, route: Route): boolean => {
    if (!auth) return true;
    const required = requiredAccess(route);
    if (!required) return true;
    const result = auth.authorize(req.headers.authorization, required);
    if (result.ok) return true;
    log.info({ reqId: contextOf(req).id, reason: result.reason }, 'request not authorised');
    sendError(res, new ServerError('UNAUTHORIZED', accessDetail(required)), {
      'WWW-Authenticate': auth.challenge(required, result.error, req.headers.host),
    });
    return false;
  };

  const dispatch = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const ctx = contextOf(req);
    const route = ctx.route;
    if (route.name === 'methodNotAllowed') {
      sendText(res, 405, '');
      return;
    }
    prefixCheck(route);
    if (!authorize(req, res, route)) return;
    const gun = routeGun(route);
    if (gun !== undefined && !isValidGun(gun)) {
      // such a GUN can never have been published: reads find nothing, writes are refused
      if (route.name === 'update' || route.name === 'getKey' || route.name === 'rotateKey') {
        throw new ServerError('INVALID_GUN', 'invalid GUN', `invalid GUN ${JSON.stringify(gun.slice(0, 300))}`);
      }
      if (route.name === 'getCurrent' || route.name === 'getByChecksum' || route.name === 'getByVersion') throw notFound();
    }

    switch (route.name) {
      case 'ping':
        sendText(res, 200, '{}');
        return;
      case 'getCurrent': {
        const token = cache.fillToken();
        const cur = await service.current(route.gun, route.role);
        if (!cur) throw notFound();
        const f = toCached(cur.file, cur.validUntil);
        cache.put(route.gun, { kind: 'current', role: route.role }, f, token);
        writeFile(res, f, 'current', ctx.id);
        return;
      }
      case 'getByChecksum': {
        const token = cache.fillToken();
        const file = await service.byChecksum(route.gun, route.role, route.checksum);
        if (!file) throw notFound();
        const f = toCached(file, Infinity);
        cache.put(route.gun, { kind: 'consistent', key: byChecksumKey(route.role, route.checksum.toLowerCase()) }, f, token);
        writeFile(res, f, 'consistent', ctx.id);
        return;
      }
      case 'getByVersion': {
        const token = cache.fillToken();
        const file = await service.byVersion(route.gun, route.role, route.version);
        if (!file) throw notFound();
        const f = toCached(file, Infinity);
        cache.put(route.gun, { kind: 'consistent', key: byVersionKey(route.version, route.role) }, f, token);
        writeFile(res, f, 'consistent', ctx.id);
        return;
      }
      case 'update': {
        let published: Published;
        let token: number;
        try {
          const request = await readPublishRequest(req, limits);
          // before the publish reads the store, as for any fill
          token = cache.writeToken();
          published = await service.publish(route.gun, request);
          metrics.observePublish('ok');
        } catch (e) {
          const err = toServerError(e);
          metrics.observePublish(err instanceof ValidationError ? err.validation : err.code);
          throw err;
        }
        fillPublished(route.gun, published, token);
        watch?.noteOwn(published.changes.map((c) => c.id));
        sendText(res, 200, '');
        return;
      }
      case 'getKey':
      case 'rotateKey': {
        const key = route.name === 'getKey' ? await service.publicKey(route.gun, route.role) : await service.rotateKey(route.gun, route.role);
        // Go's encoding of a data.PublicKey: public before private (spec 1.5)
        const json = publicKeyJson(key.keytype, key.publicB64);
        const keyval = json.keyval as { public: string };
        sendText(res, 200, JSON.stringify({ keytype: key.keytype, keyval: { public: keyval.public, private: null } }));
        return;
      }
      case 'delete':
        await service.deleteRepository(route.gun);
        sendText(res, 200, '');
        return;
      case 'changefeed':
      case 'changefeedAll': {
        const params = new URLSearchParams(req.url?.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
        const recordsRaw = params.get('records') ?? '';
        const records = parseGoInt32(recordsRaw);
        if (typeof records === 'string') throw new ServerError('INVALID_PARAMETERS', `invalid records parameter: ${records}`);
        const out = await service.changes({ gun: route.name === 'changefeed' ? route.gun : undefined, changeId: params.get('change_id') ?? '', records });
        sendText(res, 200, JSON.stringify(out).replace(/[<>&\u2028\u2029]/g, (c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')));
        return;
      }
      case 'health': {
        const failures = await service.health();
        const ok = Object.keys(failures).length === 0;
        if (!ok) log.warn({ failures }, 'health check failed');
        sendText(res, ok ? 200 : 503, JSON.stringify(failures), JSON_CONTENT_TYPE);
        return;
      }
      case 'metrics':
        sendText(res, 200, metrics.render(), METRICS_CONTENT_TYPE);
        return;
      case 'notFound':
        throw new ServerError('METADATA_NOT_FOUND', undefined, `no route for ${req.method} ${ctx.path.slice(0, 200)}`);
      default: {
        const never: never = route;
        throw new Error(`unrouted ${JSON.stringify(never)}`);
      }
    }
  };

  app.use((req, res, next) => {
    dispatch(req, res).then(() => undefined, next);
  });
  /** Every failure becomes Notary's envelope. */
  const failed = (err: unknown, req: IncomingMessage, res: ServerResponse): void => {
    const e = toServerError(err);
    const ctx = contexts.get(req);
    const fields = { reqId: ctx?.id, code: e.code, err: e.message };
    if (e.status >= 500) log.error({ ...fields, stack: (err as Error)?.stack }, 'request failed');
    else log.info(fields, 'request refused');
    sendError(res, e, ctx ? { 'X-Request-Id': ctx.id } : {});
  };
  // the one error middleware
  app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => failed(err, req, res));

  // -------------------------------------------------------------------------------------------
  // The front handler

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const started = process.hrtime.bigint();
    const id = `${idPrefix}-${(++counter).toString(36)}`;
    const parsed = parsePath(req.url, limits.maxPathBytes);
    if (parsed.kind === 'bad') {
      sendText(res, 400, '400 Bad Request');
      return;
    }
    if (parsed.kind === 'redirect') {
      res.statusCode = 301;
      res.setHeader('Location', parsed.location);
      res.setHeader('Content-Length', 0);
      res.end();
      return;
    }
    const ctx: RequestContext = { id, route: matchRoute(req.method ?? 'GET', parsed.path), started, path: parsed.path };
    const name = ctx.route.name;
    if (watch && (name === 'getCurrent' || name === 'getByChecksum' || name === 'getByVersion')) {
      // see every change committed before this request (also by other processes) before answering from memory
      watch.wait().then(
        () => {
          if (!tryFast(req, res, ctx)) toExpress(req, res, ctx);
        },
        () => toExpress(req, res, ctx),
      );
      return;
    }
    if (tryFast(req, res, ctx)) return;
    if (name === 'update') {
      // a publish waits on its own work, not on express' router (it has no middleware to run)
      track(req, res, ctx);
      dispatch(req, res)
        .then(undefined, (e: unknown) => failed(e, req, res))
        // as express' final handler: if even the envelope could not be sent, drop the connection
        .catch(() => res.destroy());
      return;
    }
    toExpress(req, res, ctx);
  };

  const toExpress = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void => {
    track(req, res, ctx);
    app(req as express.Request, res as express.Response, (err?: unknown) => {
      // express' final handler: only reached if the error middleware itself failed
      if (!res.headersSent) sendError(res, err ? toServerError(err) : new ServerError('GENERIC_NOT_FOUND'));
    });
  };

  /** Request context, request ID header, and the log line and metrics when the answer is sent. */
  const track = (req: IncomingMessage, res: ServerResponse, ctx: RequestContext): void => {
    const id = ctx.id;
    contexts.set(req, ctx);
    res.setHeader('X-Request-Id', id);
    res.once('finish', () => {
      const seconds = finish(ctx, req.method, res.statusCode);
      log.info(
        { reqId: id, method: req.method, path: ctx.path.slice(0, 512), op: operationName(ctx.route), gun: routeGun(ctx.route)?.slice(0, 256), status: res.statusCode, ms: Math.round(seconds * 1e6) / 1e3 },
        'request',
      );
    });
  };

  return { handle, cache, metrics };
}

/** strconv.ParseInt(s, 10, 32): the number, or Go's error text. */
export function parseGoInt32(s: string): number | string {
  const q = JSON.stringify(s);
  if (!/^[+-]?\d+$/.test(s)) return `strconv.ParseInt: parsing ${q}: invalid syntax`;
  const n = Number(s);
  if (!Number.isFinite(n) || n > 2 ** 31 - 1 || n < -(2 ** 31)) return `strconv.ParseInt: parsing ${q}: value out of range`;
  return n;
}
