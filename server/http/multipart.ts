/**
 * The publish body (spec 1.4.1): multipart/form-data (or multipart/mixed, as Go's reader also
 * takes it), one part per metadata file, the file name being the role. The body is read whole,
 * bounded in total size, then framed here as Go's mime/multipart reader (Notary's) frames it,
 * bounded in parts, size per file and part headers: a framing or bound error is MALFORMED_UPLOAD
 * before any part is looked at. Parts are then handed to the PublishRequest in arrival order so
 * the first bad part decides the error, as in Notary.
 */
import type { IncomingMessage } from 'node:http';
import { ServerError } from '../errors';
import { SERVER_LIMITS, ServerLimits } from '../limits';
import { PublishRequest } from '../service/upload';

const MULTIPART_TYPES = new Set(['multipart/form-data', 'multipart/mixed']);
/** RFC 2046 5.1.1 */
const MAX_BOUNDARY_BYTES = 70;
/**
 * `--boundary` found where it does not frame anything (inside a part, or not at a line start in
 * the preamble). No metadata file holds one; a body made of them would keep the synchronous
 * framing busy for seconds, so past this many the body is refused.
 */
const MAX_FALSE_DELIMITERS = 1000;

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;
const CRLF = Buffer.from('\r\n');
const BARE_LF = CRLF.subarray(1);

function malformed(why: string, detail?: string): ServerError {
  return new ServerError('MALFORMED_UPLOAD', detail, `malformed upload: ${why}`);
}

const tooLarge = (limits: ServerLimits) => malformed('body too large', `the request body exceeds ${limits.maxUploadBytes} bytes`);

/** Read and parse a publish request body. Rejects with a ServerError (4xx) on anything malformed. */
export function readPublishRequest(req: IncomingMessage, limits: ServerLimits = SERVER_LIMITS): Promise<PublishRequest> {
  const contentType = req.headers['content-type'] ?? '';
  const media = parseMediaType(contentType);
  if (!media || !MULTIPART_TYPES.has(media.type)) return Promise.reject(malformed(`content type ${JSON.stringify(contentType.slice(0, 100))}`));
  // header values arrive as latin1, one char per byte
  const boundary = media.params.get('boundary') ?? '';
  if (boundary === '' || boundary.length > MAX_BOUNDARY_BYTES) return Promise.reject(malformed('missing or overlong multipart boundary'));
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.maxUploadBytes) return Promise.reject(tooLarge(limits));

  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let settled = false;
    let received = 0;

    const fail = (err: ServerError) => {
      if (settled) return;
      settled = true;
      chunks.length = 0;
      // drain what the client still sends, so that it reads our answer instead of a reset
      req.resume();
      reject(err);
    };

    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limits.maxUploadBytes) {
        if (!settled) chunks.push(chunk);
        return;
      }
      // past the bound: refuse; a client that keeps sending after twice the bound is cut off
      if (!settled) fail(tooLarge(limits));
      else if (received > 2 * limits.maxUploadBytes) req.destroy();
    });
    req.on('aborted', () => fail(malformed('client aborted the upload')));
    req.on('error', () => fail(malformed('connection error during upload')));
    req.on('end', () => {
      if (settled) return;
      settled = true;
      // the usual publish arrives in one chunk, used as it is
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received);
      try {
        resolve(parsePublishBody(body, boundary, limits));
      } catch (e) {
        reject(e instanceof ServerError ? e : malformed((e as Error).message));
      }
    });
  });
}

function parsePublishBody(body: Buffer, boundary: string, limits: ServerLimits): PublishRequest {
  const request = new PublishRequest();
  for (const part of frameParts(body, boundary, limits)) {
    const filename = fileName(part.disposition);
    if (filename !== undefined && Buffer.byteLength(filename) > limits.maxFilenameBytes) {
      throw new ServerError('INVALID_ROLE', filename.slice(0, 300), 'file name too long');
    }
    // a kept file must not pin much more memory than its own size (caches hold stored files)
    request.addPart(filename, part.bytes.length * 2 < part.bytes.buffer.byteLength ? Buffer.from(part.bytes) : part.bytes);
  }
  return request;
}

interface RawPart {
  /** the first Content-Disposition header, as latin1 */
  disposition: string | undefined;
  /** a view into the body */
  bytes: Buffer;
}

/**
 * The parts of a whole multipart body, framed as Go's mime/multipart Reader does, within the
 * bounds on parts and file size: the whole body is framed before any part is used. A preamble is
 * skipped; a delimiter line is `--boundary` LWSP* CRLF, the last one `--boundary--` LWSP*
 * followed by CRLF or the end (the epilogue after it is ignored). If the first delimiter line
 * ends in a bare LF, lines end in LF throughout. A part ends before the CRLF `--boundary` that is
 * followed by `--`, LWSP, CR or LF (or right at its start, with no CRLF); the line there must
 * then be a delimiter.
 */
function frameParts(body: Buffer, boundary: string, limits: ServerLimits): RawPart[] {
  const parts: RawPart[] = [];
  let falseDelimiters = 0;
  const falseDelimiter = () => {
    if (++falseDelimiters > MAX_FALSE_DELIMITERS) throw malformed('too many boundary strings that delimit nothing');
  };
  let nl = CRLF;
  let nlDashBoundary = Buffer.from(`\r\n--${boundary}`, 'latin1');
  const dashBoundary = nlDashBoundary.subarray(2);
  let partsRead = 0;
  let pos = 0;

  // a loop: Buffer.compare's argument checks cost more than these few bytes
  const startsWith = (prefix: Buffer, at: number) => {
    if (at + prefix.length > body.length) return false;
    for (let i = 0; i < prefix.length; i++) if (body[at + i] !== prefix[i]) return false;
    return true;
  };
  const isNl = (at: number, end: number) => end - at === nl.length && startsWith(nl, at);
  const skipLwsp = (at: number, end: number) => {
    while (at < end && (body[at] === 0x20 || body[at] === 0x09)) at++;
    return at;
  };
  // lines run from `at` to `end`, just past their LF (or the end of the body)
  const isDelimiterLine = (at: number, end: number): boolean => {
    if (!startsWith(dashBoundary, at)) return false;
    const rest = skipLwsp(at + dashBoundary.length, end);
    // Go's reader: a first delimiter line ending in a bare LF switches to LF line ends
    if (partsRead === 0 && end - rest === 1 && body[rest] === LF) {
      nl = BARE_LF;
      nlDashBoundary = nlDashBoundary.subarray(1);
    }
    return isNl(rest, end);
  };
  const isFinalLine = (at: number, end: number): boolean => {
    if (!startsWith(dashBoundary, at) || body[at + dashBoundary.length] !== DASH || body[at + dashBoundary.length + 1] !== DASH) return false;
    const rest = skipLwsp(at + dashBoundary.length + 2, end);
    return rest === end || isNl(rest, end);
  };
  /** what follows a `--boundary` at `at` ends the part (Go: matchAfterPrefix) */
  const closesPart = (at: number): boolean => {
    if (at >= body.length) return true;
    const c = body[at];
    return c === 0x20 || c === 0x09 || c === CR || c === LF || (c === DASH && body[at + 1] === DASH);
  };

  for (;;) {
    // the preamble: lines before the first delimiter line are skipped
    if (partsRead === 0) pos = findLineStart(body, dashBoundary, pos, falseDelimiter);
    if (pos === -1) throw malformed('no multipart delimiter');
    const lf = body.indexOf(LF, pos);
    const lineEnd = lf === -1 ? body.length : lf + 1;
    if (isFinalLine(pos, lineEnd)) return parts;
    if (!isDelimiterLine(pos, lineEnd)) {
      if (partsRead === 0 && lf !== -1) {
        pos = lineEnd;
        continue;
      }
      throw malformed(lf === -1 ? 'body ends before the final multipart delimiter' : 'expected a multipart delimiter line');
    }
    pos = lineEnd;
    if (++partsRead > limits.maxUploadFiles) throw malformed('too many files', `an upload holds at most ${limits.maxUploadFiles} files`);

    const headers = readPartHeaders(body, pos, limits);
    pos = headers.end;

    // the part ends where a delimiter line starts; the `nl` before it belongs to the delimiter
    let end: number;
    let next: number;
    if (startsWith(dashBoundary, pos) && closesPart(pos + dashBoundary.length)) {
      end = next = pos;
    } else {
      end = body.indexOf(nlDashBoundary, pos);
      while (end !== -1 && !closesPart(end + nlDashBoundary.length)) {
        falseDelimiter();
        end = body.indexOf(nlDashBoundary, end + 1);
      }
      if (end === -1) throw malformed('body ends inside a part');
      next = end + nl.length;
    }
    if (end - pos > limits.maxFileBytes) throw malformed('file too large', `an uploaded file exceeds ${limits.maxFileBytes} bytes`);
    parts.push({ disposition: headers.disposition, bytes: body.subarray(pos, end) });
    pos = next;
  }
}

/** The first `prefix` at or after `from` that starts a line, or -1; `skipped` hears of each other one. */
function findLineStart(body: Buffer, prefix: Buffer, from: number, skipped: () => void): number {
  let at = body.indexOf(prefix, from);
  while (at > 0 && body[at - 1] !== LF) {
    skipped();
    at = body.indexOf(prefix, at + 1);
  }
  return at;
}

/**
 * A part's header lines up to the empty line, as Go's textproto reads them: `Name: value`,
 * lines ending in LF or CRLF, a line starting with a space or tab continuing the one before.
 */
function readPartHeaders(body: Buffer, from: number, limits: ServerLimits): { disposition: string | undefined; end: number } {
  const headers: { name: string; value: string }[] = [];
  let pos = from;
  for (;;) {
    const lf = body.indexOf(LF, pos);
    if (lf === -1 || lf + 1 - from > limits.maxPartHeaderBytes) throw malformed(lf === -1 ? 'body ends inside part headers' : 'part headers too large');
    const line = body.toString('latin1', pos, lf > pos && body[lf - 1] === CR ? lf - 1 : lf);
    pos = lf + 1;
    if (line === '') break;
    const last = headers[headers.length - 1];
    if (line[0] === ' ' || line[0] === '\t') {
      if (!last) throw malformed('part headers start with a continuation line');
      last.value += ' ' + trimSpace(line);
      continue;
    }
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (colon === -1 || !isToken(name)) throw malformed('malformed part header line');
    if (headers.length >= limits.maxPartHeaderPairs) throw malformed('too many part headers');
    headers.push({ name: name.toLowerCase(), value: trimSpace(line.slice(colon + 1)) });
  }
  return { disposition: headers.find((h) => h.name === 'content-disposition')?.value, end: pos };
}

/** Go's ASCII white space (JS trim() also takes U+00A0, a latin1 byte here) */
function isSpace(c: number): boolean {
  return c === 0x20 || (c >= 0x09 && c <= 0x0d);
}

function trimSpace(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isSpace(s.charCodeAt(start))) start++;
  while (end > start && isSpace(s.charCodeAt(end - 1))) end--;
  return s.slice(start, end);
}

/**
 * The part's file name as Notary reads it (Go's Part.FileName without the basename: slashes are
 * kept, spec 1.4.1), or undefined when the disposition has none or does not parse. The raw
 * bytes are read as UTF-8, as Go reads strings.
 */
function fileName(disposition: string | undefined): string | undefined {
  const raw = disposition === undefined ? undefined : parseMediaType(disposition)?.params.get('filename');
  if (!raw) return undefined;
  // ASCII reads the same either way
  return /[^\x00-\x7f]/.test(raw) ? Buffer.from(raw, 'latin1').toString('utf8') : raw;
}

// ---------------------------------------------------------------------------------------------
// Go's mime.ParseMediaType, on strings of latin1 chars (one per byte)

const TSPECIALS = '()<>@,;:\\"/[]?=';
/** a run of token chars: printable ASCII but the tspecials */
const TOKEN = /[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+/y;

function tokenEnd(s: string, i: number): number {
  TOKEN.lastIndex = i;
  return TOKEN.test(s) ? TOKEN.lastIndex : i;
}

function isToken(s: string): boolean {
  return s !== '' && tokenEnd(s, 0) === s.length;
}

function skipSpace(s: string, i: number): number {
  while (i < s.length && isSpace(s.charCodeAt(i))) i++;
  return i;
}

/**
 * `type/subtype; name=value; ...` (or a disposition `type; ...`): the type lowercased and the
 * parameters by lowercased name, or undefined where Go returns an error (a bad type, a bad
 * parameter, a parameter given twice). An RFC 2231 `name*=charset'lang'value` in UTF-8 or
 * US-ASCII replaces `name`; continuations (`name*0`) are ignored.
 */
function parseMediaType(v: string): { type: string; params: Map<string, string> } | undefined {
  const semi = v.indexOf(';');
  const type = trimSpace(v.slice(0, semi === -1 ? v.length : semi)).toLowerCase();
  const slash = type.indexOf('/');
  if (slash === -1 ? !isToken(type) : !isToken(type.slice(0, slash)) || !isToken(type.slice(slash + 1))) return undefined;

  const raw = new Map<string, string>();
  let i = semi === -1 ? v.length : semi;
  for (;;) {
    i = skipSpace(v, i);
    if (i === v.length) break;
    const param = consumeParam(v, i);
    if (!param) {
      // a trailing `;` is allowed
      if (trimSpace(v.slice(i)) === ';') break;
      return undefined;
    }
    if (raw.has(param.name)) return undefined;
    raw.set(param.name, param.value);
    i = param.end;
  }

  const params = new Map<string, string>();
  for (const [name, value] of raw) if (!name.includes('*')) params.set(name, value);
  for (const [name, value] of raw) {
    if (name.indexOf('*') !== name.length - 1) continue;
    const decoded = decodeRfc2231(value);
    if (decoded !== undefined) params.set(name.slice(0, -1), decoded);
  }
  return { type, params };
}

/** `; name=value` at `i`: a token or a quoted string (Go unescapes only `\` before a tspecial). */
function consumeParam(v: string, i: number): { name: string; value: string; end: number } | undefined {
  i = skipSpace(v, i);
  if (v[i] !== ';') return undefined;
  i = skipSpace(v, i + 1);
  const nameEnd = tokenEnd(v, i);
  if (nameEnd === i) return undefined;
  const name = v.slice(i, nameEnd).toLowerCase();
  i = skipSpace(v, nameEnd);
  if (v[i] !== '=') return undefined;
  i = skipSpace(v, i + 1);
  if (v[i] !== '"') {
    const end = tokenEnd(v, i);
    return end === i ? undefined : { name, value: v.slice(i, end), end };
  }
  let value = '';
  for (let j = i + 1; j < v.length; j++) {
    const c = v[j] as string;
    if (c === '"') return { name, value, end: j + 1 };
    if (c === '\r' || c === '\n') return undefined;
    if (c === '\\' && j + 1 < v.length && TSPECIALS.includes(v[j + 1] as string)) {
      value += v[++j];
    } else {
      value += c;
    }
  }
  return undefined;
}

/** `charset'lang'pct-encoded` in UTF-8 or US-ASCII, as latin1 chars of the decoded bytes. */
function decodeRfc2231(v: string): string | undefined {
  const first = v.indexOf("'");
  const second = first === -1 ? -1 : v.indexOf("'", first + 1);
  if (second === -1) return undefined;
  const charset = v.slice(0, first).toLowerCase();
  if (charset !== 'utf-8' && charset !== 'us-ascii') return undefined;
  const encoded = v.slice(second + 1);
  if (/%(?![0-9a-fA-F]{2})/.test(encoded)) return undefined;
  return encoded.replace(/%([0-9a-fA-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
}
