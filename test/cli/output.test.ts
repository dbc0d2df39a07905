/**
 * Output: notary's table layout, the documented exit code of every error class, JSON error
 * documents, and progress lines.
 */
import { TufError } from '../../tuf/errors';
import { UpdateError } from '../../cli/client/errors';
import { TargetError } from '../../cli/client/targets';
import { CliError, EXIT, exitCodeFor, formatTable, Output } from '../../cli/output';
import { RemoteError } from '../../cli/remote';

function capture(isTTY = false) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    streams: { stdout: { write: (s: string | Uint8Array) => out.push(String(s)) }, stderr: { write: (s: string) => err.push(s), isTTY } },
  };
}

it('lays tables out as notary does: 4 spaces of padding, dashes under headers, last column unpadded', () => {
  expect(formatTable(['NAME', 'DIGEST', 'SIZE (BYTES)', 'ROLE'], [['v1', 'ab', '6', 'targets']])).toBe(
    'NAME    DIGEST    SIZE (BYTES)    ROLE\n----    ------    ------------    ----\nv1      ab        6               targets\n',
  );
  // an empty last cell still pads the one before it (notary's status with an empty PATH)
  expect(formatTable(['#', 'PATH'], [['0', '']])).toBe('#    PATH\n-    ----\n0    \n');
});

it.each([
  [new CliError('USAGE', 'x'), EXIT.USAGE],
  [new TufError('SIGNATURE', 'x'), EXIT.UNTRUSTED],
  [new TufError('EXPIRED', 'x'), EXIT.UNTRUSTED],
  [new TufError('KEYFILE', 'x'), EXIT.KEYS],
  [new RemoteError('NETWORK', 'x'), EXIT.NETWORK],
  [new RemoteError('REJECTED', 'x'), EXIT.NETWORK],
  [new RemoteError('NOT_FOUND', 'x'), EXIT.NOT_FOUND],
  [new RemoteError('TOO_LARGE', 'x'), EXIT.UNTRUSTED],
  [new UpdateError('REPOSITORY_NOT_FOUND', 'x'), EXIT.NOT_FOUND],
  [new UpdateError('ROOT_ROTATION', 'x'), EXIT.UNTRUSTED],
  [new UpdateError('VERSION', 'x'), EXIT.UNTRUSTED],
  [new UpdateError('OFFLINE', 'x'), EXIT.NETWORK],
  [new TargetError('TARGET_HASH', 'x'), EXIT.UNTRUSTED],
  [Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }), EXIT.NETWORK],
  [new Error('anything else'), EXIT.ERROR],
])('maps %s to exit %i', (err, code) => {
  expect(exitCodeFor(err)).toBe(code);
});

it('reports a failure as one line, or a JSON document on stdout, with a stack only when debugging', () => {
  const c = capture();
  const err = new CliError('UNTRUSTED', 'first line\nsecond line', { detail: { expected: 'sha256:ab' } });
  expect(new Output('table', false, c.streams).failure(err)).toBe(3);
  expect(c.err.join('')).toBe('* fatal: first line; second line\n');
  const j = capture();
  new Output('json', false, j.streams).failure(err);
  expect(JSON.parse(j.out.join(''))).toEqual({ error: { code: 'UNTRUSTED', exitCode: 3, message: 'first line; second line', detail: { expected: 'sha256:ab' } } });
  const d = capture();
  new Output('table', true, d.streams).failure(err);
  expect(d.err.join('')).toMatch(/\n\s+at /);
});

it('shows progress on stderr: a rewritten line on a terminal, occasional lines elsewhere, always the end', () => {
  const tty = capture(true);
  const o = new Output('table', false, tty.streams);
  o.progress('adding tags', 1, 3);
  o.progress('adding tags', 3, 3);
  expect(tty.err.join('')).toBe('\radding tags: 1/3 (33%)\radding tags: 3/3 (100%)\n');
  const pipe = capture(false);
  const p = new Output('json', false, pipe.streams);
  for (let i = 1; i <= 1000; i++) p.progress('applying', i, 1000);
  expect(pipe.err[pipe.err.length - 1]).toBe('applying: 1000/1000 (100%)\n');
  expect(pipe.out).toEqual([]);
});
