/**
 * The publish body (spec 1.4.1): multipart/form-data (or multipart/mixed, as Go's reader also
 * takes it), one part per metadata file, the file name being the role. Parsed with busboy,
 * bounded in total size, size per file and number of parts; parts are handed to the
 * PublishRequest in arrival order so the first bad part decides the error, as in Notary.
 */
import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { ServerError } from '../errors';
import { SERVER_LIMITS, ServerLimits } from '../limits';
import { PublishRequest } from '../service/upload';

const MULTIPART = /^multipart\/(form-data|mixed)\s*;/i;

function malformed(why: string, detail?: string): ServerError {
  return new ServerError('MALFORMED_UPLOAD', detail, `malformed upload: ${why}`);
}

/** Read and parse a publish request body. Rejects with a ServerError (4xx) on anything malformed. */
export function readPublishRequest(req: IncomingMessage, limits: ServerLimits = SERVER_LIMITS): Promise<PublishRequest> {
  const contentType = req.headers['content-type'] ?? '';
  if (!MULTIPART.test(contentType)) return Promise.reject(malformed(`content type ${JSON.stringify(contentType.slice(0, 100))}`));
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limits.maxUploadBytes) {
    return Promise.reject(malformed('body too large', `the request body exceeds ${limits.maxUploadBytes} bytes`));
  }
  let bb: busboy.Busboy;
  try {
    bb = busboy({
      // busboy only knows form-data; multipart/mixed has the same framing
      headers: { ...req.headers, 'content-type': contentType.replace(/^multipart\/mixed/i, 'multipart/form-data') },
      // keep slashes: delegations are uploaded as `targets/releases`
      preservePath: true,
      limits: {
        fileSize: limits.maxFileBytes,
        files: limits.maxUploadFiles,
        fields: 1,
        fieldSize: 1024,
        parts: limits.maxUploadFiles + 1,
        headerPairs: limits.maxPartHeaderPairs,
      },
    });
  } catch (e) {
    return Promise.reject(malformed((e as Error).message));
  }

  return new Promise((resolve, reject) => {
    const request = new PublishRequest();
    let settled = false;
    let received = 0;

    const fail = (err: ServerError) => {
      if (settled) return;
      settled = true;
      req.unpipe(bb);
      // drain what the client still sends, so that it reads our answer instead of a reset
      req.resume();
      reject(err);
    };

    req.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (received <= limits.maxUploadBytes) return;
      // past the bound: refuse; a client that keeps sending after twice the bound is cut off
      if (!settled) fail(malformed('body too large', `the request body exceeds ${limits.maxUploadBytes} bytes`));
      else if (received > 2 * limits.maxUploadBytes) req.destroy();
    });
    req.on('aborted', () => fail(malformed('client aborted the upload')));
    req.on('error', () => fail(malformed('connection error during upload')));

    bb.on('file', (_field, stream, info) => {
      const chunks: Buffer[] = [];
      let truncated = false;
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('limit', () => {
        truncated = true;
        fail(malformed('file too large', `an uploaded file exceeds ${limits.maxFileBytes} bytes`));
      });
      // errors are also reported on busboy itself
      stream.on('error', () => undefined);
      stream.on('end', () => {
        if (settled || truncated) return;
        if (request.size >= limits.maxUploadFiles) {
          fail(malformed('too many files', `an upload holds at most ${limits.maxUploadFiles} files`));
          return;
        }
        const filename = info.filename;
        if (filename !== undefined && Buffer.byteLength(filename) > limits.maxFilenameBytes) {
          fail(new ServerError('INVALID_ROLE', filename.slice(0, 300), 'file name too long'));
          return;
        }
        try {
          request.addPart(filename, Buffer.concat(chunks));
        } catch (e) {
          fail(e instanceof ServerError ? e : malformed((e as Error).message));
        }
      });
    });
    // a part without a file name (busboy calls those fields)
    bb.on('field', () => fail(new ServerError('NO_FILENAME', undefined, 'upload part without a file name')));
    bb.on('filesLimit', () => fail(malformed('too many files', `an upload holds at most ${limits.maxUploadFiles} files`)));
    bb.on('partsLimit', () => fail(malformed('too many parts', `an upload holds at most ${limits.maxUploadFiles} files`)));
    bb.on('fieldsLimit', () => fail(new ServerError('NO_FILENAME', undefined, 'upload part without a file name')));
    bb.on('error', (e: Error) => fail(malformed(e.message)));
    bb.on('close', () => {
      if (settled) return;
      settled = true;
      resolve(request);
    });
    req.pipe(bb);
  });
}
