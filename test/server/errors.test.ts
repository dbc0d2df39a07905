/**
 * The error table and envelope (spec 1.9): exact messages and statuses, detail omitted when
 * nil, validation details under the 1 KiB the Go client reads.
 */
import { ERROR_CODES, errorBody, ServerError, ValidationError } from '../../server/errors';
import { matchesSchema } from '../../tuf';

describe('errors', () => {
  it('holds Notary\'s codes with their statuses and exact messages', () => {
    expect(ERROR_CODES.METADATA_NOT_FOUND).toEqual({ status: 404, message: 'You have requested metadata that does not exist.' });
    expect(ERROR_CODES.MALFORMED_JSON).toEqual({ status: 400, message: 'JSON sent by the client could not be parsed by the server' });
    expect(ERROR_CODES.UNAUTHORIZED).toEqual({ status: 401, message: 'authentication required' });
    expect(ERROR_CODES.UPDATING.status).toBe(500);
    expect(ERROR_CODES.UNKNOWN).toEqual({ status: 500, message: 'unknown error' });
    expect(Object.keys(ERROR_CODES)).toHaveLength(16);
  });

  it('writes one error in the envelope with a trailing newline, omitting a nil detail', () => {
    expect(errorBody('METADATA_NOT_FOUND', {}).toString()).toBe('{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist.","detail":{}}]}\n');
    expect(errorBody('METADATA_NOT_FOUND').toString()).toBe('{"errors":[{"code":"METADATA_NOT_FOUND","message":"You have requested metadata that does not exist."}]}\n');
    expect(matchesSchema('error', JSON.parse(errorBody('VERSION', {}).toString()))).toBe(true);
  });

  it('HTML-escapes as Go\'s encoder does', () => {
    expect(errorBody('INVALID_ROLE', 'a<b>&c').toString()).toContain('"detail":"a\\u003cb\\u003e\\u0026c"');
  });

  it('serialises validation errors in tuf/validation\'s shape', () => {
    const e = new ValidationError('ErrBadHierarchy', 'no snapshot', 'snapshot');
    expect(e.status).toBe(400);
    expect(e.detail).toEqual({ Name: 'ErrBadHierarchy', Error: { Missing: 'snapshot', Msg: 'no snapshot' } });
    expect(errorBody(e.code, e.detail).toString()).toBe(
      '{"errors":[{"code":"INVALID_UPDATE","message":"Update sent by the client is invalid.","detail":{"Name":"ErrBadHierarchy","Error":{"Missing":"snapshot","Msg":"no snapshot"}}}]}\n',
    );
  });

  it('cuts long validation messages so the body stays within 1 KiB', () => {
    for (const msg of ['x'.repeat(5000), 'é'.repeat(3000), '<&>'.repeat(1000)]) {
      const e = new ValidationError('ErrBadTargets', msg);
      const body = errorBody(e.code, e.detail);
      expect(body.length).toBeLessThanOrEqual(1024);
      expect(body.length).toBeGreaterThan(900);
      expect(JSON.parse(body.toString()).errors[0].detail.Error.Msg.endsWith('...')).toBe(true);
    }
  });

  it('keeps the log message apart from what the client sees', () => {
    const e = new ServerError('UNKNOWN', {}, 'database on fire');
    expect(e.message).toBe('database on fire');
    expect(errorBody(e.code, e.detail).toString()).not.toContain('fire');
  });
});
