/**
 * One publish as the service receives it: parts already turned into role names and parsed
 * metadata of the kind each role needs (spec 1.4.2 steps 1-3). The HTTP layer feeds parts in
 * arrival order, so the first bad part decides the error, as in Notary's handler.
 */
import { TufError } from '../../tuf/errors';
import { Metadata, MetadataKind, parseMetadata, Root, Snapshot, Targets } from '../../tuf/metadata';
import { isValidRole } from '../../tuf/roles';
import { ServerError } from '../errors';

/** Uploaded documents by role; a role uploaded twice keeps the last part (Notary: last wins). */
export class PublishRequest {
  root: Root | undefined;
  snapshot: Snapshot | undefined;
  /** `targets` and delegations */
  readonly targets = new Map<string, Targets>();
  /** a `timestamp` part was sent; it is parsed and then ignored (the server makes its own) */
  timestampIgnored = false;

  /**
   * Add one multipart part. `filename` is the raw file name: the role, with one optional
   * trailing `.json` (slashes kept: `targets/releases`).
   */
  addPart(filename: string | undefined, bytes: Buffer): void {
    const role = (filename ?? '').replace(/\.json$/, '');
    if (role === '') throw new ServerError('NO_FILENAME', undefined, 'upload part without a file name');
    if (!isValidRole(role)) {
      // the detail is the role string, as Notary sends it; cut so the error stays small
      throw new ServerError('INVALID_ROLE', role.slice(0, 300), `invalid role in upload: ${JSON.stringify(role.slice(0, 300))}`);
    }
    switch (role) {
      case 'root':
        this.root = parseUpload(role, bytes, 'root') as Root;
        break;
      case 'snapshot':
        this.snapshot = parseUpload(role, bytes, 'snapshot') as Snapshot;
        break;
      case 'timestamp':
        parseUpload(role, bytes, 'timestamp');
        this.timestampIgnored = true;
        break;
      default:
        this.targets.set(role, parseUpload(role, bytes, 'targets') as Targets);
    }
  }

  get size(): number {
    return (this.root ? 1 : 0) + (this.snapshot ? 1 : 0) + this.targets.size + (this.timestampIgnored ? 1 : 0);
  }
}

/** Parse an uploaded file as the kind its role needs; anything malformed is MALFORMED_JSON. */
export function parseUpload(role: string, bytes: Buffer, kind: MetadataKind): Metadata {
  try {
    return parseMetadata(bytes, kind);
  } catch (e) {
    // whatever the parser refuses (TufError) or trips over is the client's malformed JSON
    const why = e instanceof TufError ? e.message : `unexpected ${(e as Error).name}`;
    throw new ServerError('MALFORMED_JSON', undefined, `${role}: ${why}`, { cause: e });
  }
}
