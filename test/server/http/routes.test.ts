/**
 * Notary's route table and Go's path handling, as pure functions (spec 1.2).
 */
import { matchRoute, operationName, parsePath, requiredAccess } from '../../../server/http/routes';

describe('matchRoute', () => {
  it.each([
    ['GET', '/v2/', { name: 'ping' }],
    ['POST', '/v2/docker.io/library/alpine/_trust/tuf/', { name: 'update', gun: 'docker.io/library/alpine' }],
    ['DELETE', '/v2/a/_trust/tuf/', { name: 'delete', gun: 'a' }],
    ['GET', `/v2/a/b/_trust/tuf/root.${'a'.repeat(64)}.json`, { name: 'getByChecksum', gun: 'a/b', role: 'root', checksum: 'a'.repeat(64) }],
    ['GET', `/v2/a/_trust/tuf/targets/releases.${'F'.repeat(128)}.json`, { name: 'getByChecksum', gun: 'a', role: 'targets/releases', checksum: 'F'.repeat(128) }],
    ['GET', '/v2/a/_trust/tuf/3.root.json', { name: 'getByVersion', gun: 'a', role: 'root', version: 3 }],
    ['GET', '/v2/a/_trust/tuf/01.timestamp.json', { name: 'getByVersion', gun: 'a', role: 'timestamp', version: 1 }],
    ['GET', '/v2/a/_trust/tuf/1.targets/x/y.json', { name: 'getByVersion', gun: 'a', role: 'targets/x/y', version: 1 }],
    ['GET', '/v2/reg:5000/a/_trust/tuf/targets/releases.json', { name: 'getCurrent', gun: 'reg:5000/a', role: 'targets/releases' }],
    ['GET', '/v2/a/_trust/tuf/timestamp.key', { name: 'getKey', gun: 'a', role: 'timestamp' }],
    ['POST', '/v2/a/_trust/tuf/snapshot.key', { name: 'rotateKey', gun: 'a', role: 'snapshot' }],
    ['GET', '/v2/a/_trust/changefeed', { name: 'changefeed', gun: 'a' }],
    ['GET', '/v2/_trust/changefeed', { name: 'changefeedAll' }],
    ['GET', '/_notary_server/health', { name: 'health' }],
    ['GET', '/metrics', { name: 'metrics' }],
    // the catch-all and 405
    ['GET', '/v2/a/_trust/tuf/root.key', { name: 'notFound' }],
    ['POST', '/v2/a/_trust/tuf/targets.key', { name: 'notFound' }],
    ['POST', '/v2/a/_trust/tuf', { name: 'notFound' }],
    ['GET', '/v2/a*b/_trust/tuf/root.json', { name: 'notFound' }],
    ['HEAD', '/v2/a/_trust/tuf/root.json', { name: 'notFound' }],
    ['PUT', '/v2/a/_trust/tuf/', { name: 'notFound' }],
    ['POST', '/metrics', { name: 'notFound' }],
    ['PATCH', '/v2/a/_trust/tuf/root.json', { name: 'methodNotAllowed' }],
    ['OPTIONS', '/anything', { name: 'methodNotAllowed' }],
  ])('%s %s', (method, path, route) => {
    expect(matchRoute(method, path)).toEqual(route);
  });

  it('takes the last /_trust/tuf/ as the GUN boundary, as Go\'s regexp does', () => {
    expect(matchRoute('GET', '/v2/a/_trust/tuf/b/_trust/tuf/root.json')).toEqual({ name: 'getCurrent', gun: 'a/_trust/tuf/b', role: 'root' });
  });

  it('needs Notary\'s token actions per route', () => {
    expect(requiredAccess(matchRoute('GET', '/v2/'))).toEqual([{ type: 'registry', name: 'catalog', action: '*' }]);
    expect(requiredAccess(matchRoute('POST', '/v2/g/_trust/tuf/'))).toEqual([
      { type: 'repository', name: 'g', action: 'push' },
      { type: 'repository', name: 'g', action: 'pull' },
    ]);
    expect(requiredAccess(matchRoute('GET', '/v2/g/_trust/tuf/root.json'))).toEqual([{ type: 'repository', name: 'g', action: 'pull' }]);
    expect(requiredAccess(matchRoute('GET', '/v2/g/_trust/tuf/snapshot.key'))?.map((a) => a.action)).toEqual(['push', 'pull']);
    expect(requiredAccess(matchRoute('POST', '/v2/g/_trust/tuf/snapshot.key'))?.map((a) => a.action)).toEqual(['*']);
    expect(requiredAccess(matchRoute('DELETE', '/v2/g/_trust/tuf/'))?.map((a) => a.action)).toEqual(['*']);
    expect(requiredAccess(matchRoute('GET', '/v2/_trust/changefeed'))).toEqual([{ type: 'registry', name: 'catalog', action: '*' }]);
    expect(requiredAccess(matchRoute('GET', '/nope'))).toEqual([{ type: 'registry', name: 'catalog', action: '*' }]);
    expect(requiredAccess(matchRoute('GET', '/_notary_server/health'))).toBeNull();
    expect(requiredAccess(matchRoute('GET', '/metrics'))).toBeNull();
  });

  it('names operations as Notary\'s metrics do', () => {
    expect(operationName(matchRoute('POST', '/v2/g/_trust/tuf/'))).toBe('UpdateTUF');
    expect(operationName(matchRoute('GET', `/v2/g/_trust/tuf/root.${'0'.repeat(64)}.json`))).toBe('GetRoleByHash');
    expect(operationName(matchRoute('GET', '/v2/g/_trust/tuf/2.root.json'))).toBe('GetRoleByVersion');
    expect(operationName(matchRoute('GET', '/v2/g/_trust/tuf/root.json'))).toBe('GetRole');
    expect(operationName(matchRoute('DELETE', '/v2/g/_trust/tuf/'))).toBe('DeleteTUF');
  });
});

describe('parsePath', () => {
  it('passes clean paths through, with the query split off', () => {
    expect(parsePath('/v2/a/_trust/changefeed?records=1', 2048)).toEqual({ kind: 'ok', path: '/v2/a/_trust/changefeed', query: 'records=1' });
  });

  it('percent-decodes, including encoded slashes', () => {
    expect(parsePath('/v2/example.com%2Forg%2Frepo/_trust/tuf/root.json', 2048)).toEqual({ kind: 'ok', path: '/v2/example.com/org/repo/_trust/tuf/root.json', query: '' });
  });

  it('redirects unclean paths to the clean one, keeping a trailing slash and the query', () => {
    expect(parsePath('/v2/a//b/_trust/tuf/', 2048)).toEqual({ kind: 'redirect', location: '/v2/a/b/_trust/tuf/' });
    expect(parsePath('/v2/a/%2E%2E/b?x=1', 2048)).toEqual({ kind: 'redirect', location: '/v2/b?x=1' });
    expect(parsePath('/../..', 2048)).toEqual({ kind: 'redirect', location: '/' });
  });

  it('escapes what the Location header cannot carry raw', () => {
    expect(parsePath('/v2/a%20b//c', 2048)).toEqual({ kind: 'redirect', location: '/v2/a%20b/c' });
    expect(parsePath('/v2/r%C3%A9po//x', 2048)).toEqual({ kind: 'redirect', location: '/v2/r%C3%A9po/x' });
  });

  it('refuses broken escapes and routes over-long paths nowhere', () => {
    expect(parsePath('/v2/%zz', 2048)).toEqual({ kind: 'bad' });
    expect(parsePath('/v2/' + 'a'.repeat(3000), 2048)).toEqual({ kind: 'ok', path: '/', query: '' });
  });
});
