/**
 * Notary's route table (spec 1.2, server/server.go) as one pure function from method and
 * cleaned, percent-decoded path to a route, plus the accesses each route needs with token auth.
 * Routes are tried in Notary's order; the catch-all is last.
 */
import type { OnlineRole } from '../../signer/api';
import type { Access } from '../auth/token';

export type Route =
  | { name: 'ping' }
  | { name: 'update'; gun: string }
  | { name: 'getByChecksum'; gun: string; role: string; checksum: string }
  | { name: 'getByVersion'; gun: string; role: string; version: number }
  | { name: 'getCurrent'; gun: string; role: string }
  | { name: 'getKey'; gun: string; role: OnlineRole }
  | { name: 'rotateKey'; gun: string; role: OnlineRole }
  | { name: 'delete'; gun: string }
  | { name: 'changefeed'; gun: string }
  | { name: 'changefeedAll' }
  | { name: 'health' }
  | { name: 'metrics' }
  | { name: 'notFound' }
  | { name: 'methodNotAllowed' };

export type RouteName = Route['name'];

// <gun> is [^*]+ and <role> root|targets(/[^/\s]+)*|snapshot|timestamp, as in Notary's mux
const GUN = '([^*]+)';
const ROLE = '(root|targets(?:/[^/\\s]+)*|snapshot|timestamp)';
const RE = {
  update: new RegExp(`^/v2/${GUN}/_trust/tuf/$`),
  checksum: new RegExp(`^/v2/${GUN}/_trust/tuf/${ROLE}\\.([0-9a-fA-F]{64}|[0-9a-fA-F]{96}|[0-9a-fA-F]{128})\\.json$`),
  version: new RegExp(`^/v2/${GUN}/_trust/tuf/([1-9]*[0-9]+)\\.${ROLE}\\.json$`),
  current: new RegExp(`^/v2/${GUN}/_trust/tuf/${ROLE}\\.json$`),
  key: new RegExp(`^/v2/${GUN}/_trust/tuf/(snapshot|timestamp)\\.key$`),
  changefeed: new RegExp(`^/v2/${GUN}/_trust/changefeed$`),
};

/** Methods the catch-all answers (404); any other method is 405 everywhere. */
const CATCH_ALL_METHODS = new Set(['GET', 'POST', 'PUT', 'HEAD', 'DELETE']);

export function matchRoute(method: string, path: string): Route {
  let m: RegExpExecArray | null;
  switch (method) {
    case 'GET':
      if (path === '/v2/') return { name: 'ping' };
      if ((m = RE.checksum.exec(path))) return { name: 'getByChecksum', gun: m[1] as string, role: m[2] as string, checksum: m[3] as string };
      if ((m = RE.version.exec(path))) return { name: 'getByVersion', gun: m[1] as string, role: m[3] as string, version: Number(m[2]) };
      if ((m = RE.current.exec(path))) return { name: 'getCurrent', gun: m[1] as string, role: m[2] as string };
      if ((m = RE.key.exec(path))) return { name: 'getKey', gun: m[1] as string, role: m[2] as OnlineRole };
      if (path === '/v2/_trust/changefeed') return { name: 'changefeedAll' };
      if ((m = RE.changefeed.exec(path))) return { name: 'changefeed', gun: m[1] as string };
      if (path === '/_notary_server/health') return { name: 'health' };
      if (path === '/metrics') return { name: 'metrics' };
      break;
    case 'POST':
      if ((m = RE.update.exec(path))) return { name: 'update', gun: m[1] as string };
      if ((m = RE.key.exec(path))) return { name: 'rotateKey', gun: m[1] as string, role: m[2] as OnlineRole };
      break;
    case 'DELETE':
      if ((m = RE.update.exec(path))) return { name: 'delete', gun: m[1] as string };
      break;
    default:
      break;
  }
  return CATCH_ALL_METHODS.has(method) ? { name: 'notFound' } : { name: 'methodNotAllowed' };
}

/** The GUN a route acts on, if any. */
export function routeGun(route: Route): string | undefined {
  return 'gun' in route ? route.gun : undefined;
}

const CATALOG: Access[] = [{ type: 'registry', name: 'catalog', action: '*' }];

function repo(gun: string, ...actions: string[]): Access[] {
  return actions.map((action) => ({ type: 'repository', name: gun, action }));
}

/** Token actions per route (spec 1.2); null: never authenticated. */
export function requiredAccess(route: Route): Access[] | null {
  switch (route.name) {
    case 'ping':
    case 'changefeedAll':
    case 'notFound':
      return CATALOG;
    case 'update':
    case 'getKey':
      return repo(route.gun, 'push', 'pull');
    case 'getByChecksum':
    case 'getByVersion':
    case 'getCurrent':
    case 'changefeed':
      return repo(route.gun, 'pull');
    case 'rotateKey':
    case 'delete':
      return repo(route.gun, '*');
    case 'health':
    case 'metrics':
    case 'methodNotAllowed':
      return null;
    default: {
      const never: never = route;
      throw new Error(`unrouted ${JSON.stringify(never)}`);
    }
  }
}

/** Notary's operation names for metrics (and ours for the routes it does not name). */
export function operationName(route: Route): string {
  switch (route.name) {
    case 'update':
      return 'UpdateTUF';
    case 'getByChecksum':
      return 'GetRoleByHash';
    case 'getByVersion':
      return 'GetRoleByVersion';
    case 'getCurrent':
      return 'GetRole';
    case 'getKey':
      return 'GetKey';
    case 'rotateKey':
      return 'RotateKey';
    case 'delete':
      return 'DeleteTUF';
    case 'changefeed':
    case 'changefeedAll':
      return 'Changefeed';
    case 'ping':
      return 'Ping';
    case 'health':
      return 'Health';
    case 'metrics':
      return 'Metrics';
    case 'notFound':
      return 'NotFound';
    case 'methodNotAllowed':
      return 'MethodNotAllowed';
    default: {
      const never: never = route;
      throw new Error(`unrouted ${JSON.stringify(never)}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Paths

export type ParsedPath = { kind: 'ok'; path: string; query: string } | { kind: 'redirect'; location: string } | { kind: 'bad' };

/** Go's path.Clean. */
function clean(p: string): string {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return '/' + out.join('/');
}

/** Escape a decoded path for a Location header (Go's URL.EscapedPath for what matters). */
function escapePath(p: string): string {
  return p
    .split('/')
    .map((s) => encodeURIComponent(s).replace(/%(3A|40|21|24|26|27|28|29|2B|2C|3B|3D)/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))))
    .join('/');
}

/**
 * Percent-decode and clean a request target as Go's mux does: an unclean path (`..`, `//`,
 * `.`) is answered with a 301 to its clean form; a bad escape is a 400.
 */
export function parsePath(url: string | undefined, maxBytes: number): ParsedPath {
  const target = url ?? '/';
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const query = q < 0 ? '' : target.slice(q + 1);
  if (rawPath.length > maxBytes) return { kind: 'ok', path: '/', query: '' };
  let path: string;
  if (rawPath.includes('%')) {
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      return { kind: 'bad' };
    }
  } else {
    path = rawPath;
  }
  if (!path.startsWith('/')) path = '/' + path;
  // fast exit for the common case: nothing to clean
  if (!path.includes('//') && !path.includes('/.')) return { kind: 'ok', path, query };
  let cleaned = clean(path);
  if (path.endsWith('/') && cleaned !== '/') cleaned += '/';
  if (cleaned === path) return { kind: 'ok', path, query };
  return { kind: 'redirect', location: escapePath(cleaned) + (query ? '?' + query : '') };
}
