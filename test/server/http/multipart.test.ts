/**
 * The publish body parser (spec 1.4.1) on its own: framing as Go's mime/multipart reader does
 * it, part headers, the file name from Content-Disposition, and the bounds, driven through
 * readPublishRequest with an in-memory request.
 */
import type { IncomingMessage } from 'node:http';
import { Readable } from 'node:stream';
import { ServerError } from '../../../server/errors';
import { readPublishRequest } from '../../../server/http/multipart';
import { SERVER_LIMITS, ServerLimits } from '../../../server/limits';
import { PublishRequest } from '../../../server/service/upload';

const B = 'xYz123';
const FORM = `multipart/form-data; boundary=${B}`;

function fakeRequest(body: string, contentType: string): IncomingMessage {
  // strings are taken as latin1, one byte per char
  const req = Readable.from([Buffer.from(body, 'latin1')]) as unknown as IncomingMessage;
  req.headers = { 'content-type': contentType };
  return req;
}

/** One part as the Go client writes it, CRLF line ends. */
function part(filename: string, content: string, boundary = B): string {
  return `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${filename}"\r\nContent-Type: application/octet-stream\r\n\r\n${content}\r\n`;
}

describe('readPublishRequest', () => {
  let received: [string | undefined, Buffer][];
  let addPart: jest.SpyInstance;
  beforeEach(() => {
    received = [];
    // record what the parser hands over, without parsing it as metadata
    addPart = jest.spyOn(PublishRequest.prototype, 'addPart').mockImplementation((filename, bytes) => {
      received.push([filename, bytes]);
    });
  });
  afterEach(() => addPart.mockRestore());

  /** the parts handed to PublishRequest.addPart, in order */
  async function parts(body: string, contentType = FORM, limits: Partial<ServerLimits> = {}): Promise<[string | undefined, Buffer][]> {
    await readPublishRequest(fakeRequest(body, contentType), { ...SERVER_LIMITS, ...limits });
    return received;
  }

  /** the error code, with the real addPart (so a part without a file name is refused) */
  async function errorCode(body: string, contentType = FORM, limits: Partial<ServerLimits> = {}): Promise<string> {
    addPart.mockRestore();
    const err: unknown = await readPublishRequest(fakeRequest(body, contentType), { ...SERVER_LIMITS, ...limits }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ServerError);
    return (err as ServerError).code;
  }

  const bytes = (s: string) => Buffer.from(s, 'latin1');

  describe('the request content type', () => {
    it.each([
      ['an unquoted boundary', `multipart/form-data; boundary=${B}`],
      ['a quoted boundary', `multipart/form-data; boundary="${B}"`],
      ['multipart/mixed, as Go also takes it', `multipart/mixed; boundary=${B}`],
      ['upper case type and parameter name', `Multipart/Form-Data; BOUNDARY=${B}`],
      ['other parameters and a trailing semicolon', `multipart/form-data; charset=utf-8; boundary="${B}";`],
    ])('takes %s', async (_what, contentType) => {
      expect(await parts(part('root', '{}') + `--${B}--\r\n`, contentType)).toEqual([['root', bytes('{}')]]);
    });

    it('unescapes a quoted boundary', async () => {
      const boundary = 'a"b\\c';
      const body = part('root', '{}', boundary) + `--${boundary}--`;
      expect(await parts(body, 'multipart/form-data; boundary="a\\"b\\\\c"')).toEqual([['root', bytes('{}')]]);
    });

    it.each([
      ['not multipart', 'application/json'],
      ['no boundary', 'multipart/form-data'],
      ['an empty boundary', 'multipart/form-data; boundary=""'],
      ['a boundary over 70 bytes', `multipart/form-data; boundary=${'b'.repeat(71)}`],
      ['the boundary twice', `multipart/form-data; boundary=${B}; boundary=other`],
      ['an unterminated quoted string', `multipart/form-data; boundary="${B}`],
      ['a parameter without a value', `multipart/form-data; boundary`],
      ['another multipart type', `multipart/related; boundary=${B}`],
    ])('refuses %s (MALFORMED_UPLOAD)', async (_what, contentType) => {
      expect(await errorCode(part('root', '{}') + `--${B}--\r\n`, contentType)).toBe('MALFORMED_UPLOAD');
    });

    it('takes a boundary of exactly 70 bytes', async () => {
      const boundary = 'b'.repeat(70);
      expect(await parts(part('root', '{}', boundary) + `--${boundary}--`, `multipart/form-data; boundary=${boundary}`)).toHaveLength(1);
    });

    it('refuses a declared body over the bound before reading it', async () => {
      const req = fakeRequest('', FORM);
      req.headers['content-length'] = String(SERVER_LIMITS.maxUploadBytes + 1);
      await expect(readPublishRequest(req)).rejects.toMatchObject({ code: 'MALFORMED_UPLOAD' });
    });
  });

  describe('framing', () => {
    it('hands over each part in order, byte for byte, slashes kept', async () => {
      const body = part('root', '{"a":1}') + part('targets/releases', 'line1\r\nline2\n') + `--${B}--\r\n`;
      expect(await parts(body)).toEqual([
        ['root', bytes('{"a":1}')],
        ['targets/releases', bytes('line1\r\nline2\n')],
      ]);
    });

    it('skips a preamble and ignores an epilogue', async () => {
      const body = `this is a preamble\r\n--${B}X not a delimiter\r\n` + part('root', '{}') + `--${B}--\r\nan epilogue\r\n--${B}\r\nmore`;
      expect(await parts(body)).toEqual([['root', bytes('{}')]]);
    });

    it('takes spaces and tabs after delimiters', async () => {
      const body = `--${B} \t\r\nContent-Disposition: form-data; filename=root\r\n\r\n{}\r\n--${B}\t \r\nContent-Disposition: form-data; filename=snapshot\r\n\r\n[]\r\n--${B}-- \t`;
      expect(await parts(body)).toEqual([
        ['root', bytes('{}')],
        ['snapshot', bytes('[]')],
      ]);
    });

    it('takes bare LF line ends when the first delimiter line ends in LF', async () => {
      const body = `preamble\n--${B}\nContent-Disposition: form-data; filename=root\n\n{}\r\n--${B}\nContent-Disposition: form-data; filename=targets\n\nx\n--${B}--\n`;
      // in LF mode a CR before the LF is part content
      expect(await parts(body)).toEqual([
        ['root', bytes('{}\r')],
        ['targets', bytes('x')],
      ]);
    });

    it('keeps the boundary inside content when it does not delimit', async () => {
      const content = `a --${B} b\r\n--${B}X\r\n--${B}-x\n--${B}\r\n`;
      expect(await parts(part('root', content) + `--${B}--\r\n`)).toEqual([['root', bytes(content)]]);
    });

    it('takes an empty part', async () => {
      expect(await parts(`--${B}\r\nContent-Disposition: form-data; filename=root\r\n\r\n\r\n--${B}--`)).toEqual([['root', bytes('')]]);
    });

    it('takes zero parts', async () => {
      const req = await readPublishRequest(fakeRequest(`--${B}--\r\n`, FORM));
      expect(req.size).toBe(0);
      expect(received).toEqual([]);
    });

    it.each([
      ['an empty body', ''],
      ['a body without a delimiter', 'just some text\r\n'],
      ['a body truncated inside a part', part('root', '{}').slice(0, -3)],
      ['a body truncated inside part headers', `--${B}\r\nContent-Disposition: form-data; filename=root\r\n`],
      ['a missing final delimiter', part('root', '{}')],
      ['a final delimiter cut short', part('root', '{}') + `--${B}-`],
      ['a delimiter line with trailing text', part('root', '{}') + `--${B} x\r\n`],
      ['a CRLF final delimiter in bare LF mode', `--${B}\nContent-Disposition: form-data; filename=root\n\n{}\n--${B}--\r\n`],
    ])('refuses %s (MALFORMED_UPLOAD)', async (_what, body) => {
      expect(await errorCode(body)).toBe('MALFORMED_UPLOAD');
    });
  });

  describe('part headers', () => {
    const withHeaders = (headers: string) => `--${B}\r\n${headers}\r\n{}\r\n--${B}--\r\n`;

    it('takes header names in any case and continuation lines', async () => {
      const body = withHeaders('content-disposition: form-data;\r\n\tname="files";\r\n filename="root"\r\nX-Other: 1\r\n');
      expect(await parts(body)).toEqual([['root', bytes('{}')]]);
    });

    it('takes LF-only header lines after a CRLF delimiter, as Go textproto does', async () => {
      expect(await parts(`--${B}\r\nContent-Disposition: form-data; filename=root\n\n{}\r\n--${B}--`)).toEqual([['root', bytes('{}')]]);
    });

    it('reads the first Content-Disposition', async () => {
      expect(await parts(withHeaders('Content-Disposition: form-data; filename=root\r\nContent-Disposition: form-data; filename=targets\r\n'))).toEqual([['root', bytes('{}')]]);
    });

    it.each([
      ['a line without a colon', 'Content-Disposition form-data; filename=root\r\n'],
      ['a continuation line first', ' Content-Disposition: form-data; filename=root\r\n'],
      ['a header name with a space', 'Content Disposition: form-data; filename=root\r\n'],
    ])('refuses %s (MALFORMED_UPLOAD)', async (_what, headers) => {
      expect(await errorCode(withHeaders(headers))).toBe('MALFORMED_UPLOAD');
    });

    it('refuses more header pairs than the bound', async () => {
      const extra = Array.from({ length: SERVER_LIMITS.maxPartHeaderPairs - 1 }, (_, i) => `X-H${i}: v\r\n`).join('');
      const disposition = 'Content-Disposition: form-data; filename=root\r\n';
      expect(await parts(withHeaders(extra + disposition))).toHaveLength(1);
      expect(await errorCode(withHeaders(extra + 'X-One-More: v\r\n' + disposition))).toBe('MALFORMED_UPLOAD');
    });

    it('refuses a header block larger than the bound', async () => {
      const header = (n: number) => `Content-Disposition: form-data; filename=root; x="${'a'.repeat(n)}"\r\n`;
      // the block is the header line plus the empty line
      const fits = header(SERVER_LIMITS.maxPartHeaderBytes - header(0).length - 2);
      expect(await parts(withHeaders(fits))).toHaveLength(1);
      expect(await errorCode(withHeaders(header(SERVER_LIMITS.maxPartHeaderBytes - header(0).length - 1)))).toBe('MALFORMED_UPLOAD');
    });
  });

  describe('the file name', () => {
    const withDisposition = (disposition: string) => `--${B}\r\nContent-Disposition: ${disposition}\r\n\r\n{}\r\n--${B}--\r\n`;
    const fileName = async (disposition: string) => (await parts(withDisposition(disposition)))[0]?.[0];

    it.each([
      ['a quoted name with escapes', 'form-data; name="files"; filename="a\\"b\\\\c"', 'a"b\\c'],
      ['a backslash before a non-special (MSIE paths)', 'form-data; filename="C:\\dev\\root"', 'C:\\dev\\root'],
      ['a token', 'form-data; filename=targets.json', 'targets.json'],
      ['upper case names and spaces around =', 'form-data ; FileName = "root"', 'root'],
      ['any disposition type (Go does not look at it)', 'attachment; filename="root"', 'root'],
      ['filename* over filename', `form-data; filename*=UTF-8''targets%2Fr%C3%A9; filename="root"`, 'targets/ré'],
      ['filename* in US-ASCII with a language', `form-data; filename*=us-ascii'en'root`, 'root'],
      ['filename when filename* has an unknown charset', `form-data; filename*=iso-8859-1''r%E9; filename="root"`, 'root'],
      ['filename when filename* has a bad escape', `form-data; filename*=UTF-8''r%zz; filename="root"`, 'root'],
      ['raw UTF-8 bytes as UTF-8', 'form-data; filename="targets/r\u00c3\u00a9"', 'targets/ré'],
    ])('reads %s', async (_what, disposition, expected) => {
      expect(await fileName(disposition)).toBe(expected);
    });

    it.each([
      ['no Content-Disposition', `--${B}\r\nContent-Type: application/octet-stream\r\n\r\n{}\r\n--${B}--\r\n`],
      ['no filename parameter', withDisposition('form-data; name="files"')],
      ['an empty filename', withDisposition('form-data; filename=""')],
      ['a duplicate parameter', withDisposition('form-data; filename="root"; filename="targets"')],
      ['a duplicate parameter besides the file name', withDisposition('form-data; name="a"; name="b"; filename="root"')],
      ['an unparsable disposition', withDisposition('form-data; filename="root"; junk')],
      ['no disposition type', withDisposition('; filename="root"')],
      ['an unquoted slash, which is not a token character', withDisposition('form-data; filename=targets/releases')],
    ])('finds no file name with %s (NO_FILENAME)', async (_what, body) => {
      expect(await errorCode(body)).toBe('NO_FILENAME');
    });

    it('refuses a file name longer than the bound as an invalid role', async () => {
      const long = 'targets/' + 'a'.repeat(SERVER_LIMITS.maxFilenameBytes);
      expect(await errorCode(part(long, '{}') + `--${B}--`)).toBe('INVALID_ROLE');
    });
  });

  describe('bounds and order', () => {
    it('refuses more parts than the bound', async () => {
      const body = (n: number) => Array.from({ length: n }, (_, i) => part(`targets/r${i}`, '{}')).join('') + `--${B}--\r\n`;
      expect(await parts(body(3), FORM, { maxUploadFiles: 3 })).toHaveLength(3);
      expect(await errorCode(body(4), FORM, { maxUploadFiles: 3 })).toBe('MALFORMED_UPLOAD');
    });

    it('refuses a file larger than the bound', async () => {
      const body = (n: number) => part('targets', 'x'.repeat(n)) + `--${B}--\r\n`;
      expect(await parts(body(100), FORM, { maxFileBytes: 100 })).toHaveLength(1);
      expect(await errorCode(body(101), FORM, { maxFileBytes: 100 })).toBe('MALFORMED_UPLOAD');
    });

    it('refuses a streamed body larger than the bound', async () => {
      expect(await errorCode(part('root', 'x'.repeat(200)) + `--${B}--`, FORM, { maxUploadBytes: 100 })).toBe('MALFORMED_UPLOAD');
    });

    it('refuses a body with more than a thousand boundary strings that delimit nothing, in a part or a preamble', async () => {
      const inPart = (n: number) => part('root', `\r\n--${B}X`.repeat(n)) + `--${B}--`;
      const inPreamble = (n: number) => `x--${B}\r\n`.repeat(n) + part('root', '{}') + `--${B}--`;
      expect(await parts(inPart(1000))).toHaveLength(1);
      received.length = 0;
      expect(await parts(inPreamble(1000))).toHaveLength(1);
      expect(await errorCode(inPart(1001))).toBe('MALFORMED_UPLOAD');
      expect(await errorCode(inPreamble(1001))).toBe('MALFORMED_UPLOAD');
    });

    it('hands over a large file as a view of the body, and copies a small one out of it', async () => {
      const large = part('targets', 'x'.repeat(100_000)) + `--${B}--`;
      const [[, view]] = (await parts(large)) as [[string, Buffer]];
      expect(view.buffer.byteLength).toBe(large.length);
      received.length = 0;
      // a small file must not keep a 100 KB preamble in memory
      const [[, copy]] = (await parts(' '.repeat(100_000) + '\r\n' + part('root', '{}') + `--${B}--`)) as [[string, Buffer]];
      expect(copy.equals(bytes('{}'))).toBe(true);
      expect(copy.buffer.byteLength).toBeLessThan(10_000);
    });

    it('decides by the first bad part', async () => {
      expect(await errorCode(part('root', 'not json') + part('nope', '{}') + `--${B}--`)).toBe('MALFORMED_JSON');
      expect(await errorCode(part('nope', 'not json') + part('root', 'not json') + `--${B}--`)).toBe('INVALID_ROLE');
      expect(await errorCode(`--${B}\r\n\r\n{}\r\n` + part('nope', '{}') + `--${B}--`)).toBe('NO_FILENAME');
    });

    it('refuses a framing error even after a bad part: the body is framed first', async () => {
      expect(await errorCode(part('nope', '{}') + part('root', '{}'))).toBe('MALFORMED_UPLOAD');
    });
  });
});
