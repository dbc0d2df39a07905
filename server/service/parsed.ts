/**
 * Parsed stored metadata, kept by the SHA-256 of its exact bytes and the kind it was parsed as,
 * so that a publish does not parse the same stored root, parent targets or previous snapshot
 * again each time. A publish also leaves the documents it stored here, already parsed (targets
 * only when they delegate).
 *
 * Parsed documents are shared by every request that finds them: nothing may change one after
 * parsing (nothing in the service does; their fields are readonly).
 */
import type { Metadata, MetadataKind } from '../../tuf/metadata';
import { SERVER_LIMITS } from '../limits';

export class ParsedMetadataCache {
  /** `${kind}:${sha256}` -> document, least recently used first */
  private readonly entries = new Map<string, Metadata>();
  private bytes = 0;

  constructor(
    private readonly maxEntries: number = SERVER_LIMITS.parsedMetadataEntries,
    private readonly maxBytes: number = SERVER_LIMITS.parsedMetadataBytes,
  ) {}

  /** The document parsed from exactly `bytes` (whose SHA-256 is `sha256`) as `kind`, if held. */
  get(kind: MetadataKind, sha256: string, bytes: Buffer): Metadata | undefined {
    const key = `${kind}:${sha256}`;
    const md = this.entries.get(key);
    // the hash comes from the database: compare the bytes too, so that a row changed behind
    // our back is parsed (and refused) afresh rather than answered with what it used to hold
    if (!md || !md.bytes.equals(bytes)) return undefined;
    this.entries.delete(key);
    this.entries.set(key, md);
    return md;
  }

  set(kind: MetadataKind, sha256: string, md: Metadata): void {
    // one large document would push out everything else and weighs ten times its size in
    // heap: such files are parsed each time
    if (md.bytes.length > this.maxBytes / 16) return;
    // targets are read back only as the parent of a delegation being published: one that
    // delegates nothing would only churn the heap
    if (md.body.kind === 'targets' && md.body.delegations.length === 0) return;
    const key = `${kind}:${sha256}`;
    const old = this.entries.get(key);
    if (old) {
      this.entries.delete(key);
      this.bytes -= old.bytes.length;
    }
    this.entries.set(key, md);
    this.bytes += md.bytes.length;
    for (const [k, v] of this.entries) {
      if (this.entries.size <= this.maxEntries && this.bytes <= this.maxBytes) break;
      this.entries.delete(k);
      this.bytes -= v.bytes.length;
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
