/**
 * The JSON Schemas of schemas/, compiled once with ajv. Used wherever data crosses a trust
 * boundary: metadata parsing (server uploads, client downloads), key and error responses.
 */
import Ajv, { ErrorObject, ValidateFunction } from 'ajv';
import defs from '../schemas/defs.json';
import root from '../schemas/root.json';
import targets from '../schemas/targets.json';
import snapshot from '../schemas/snapshot.json';
import timestamp from '../schemas/timestamp.json';
import errorEnvelope from '../schemas/error.json';
import changefeed from '../schemas/changefeed.json';
import publickey from '../schemas/publickey.json';
import { JsonValue } from './canonical';
import { TufError } from './errors';

export type SchemaName = 'root' | 'targets' | 'snapshot' | 'timestamp' | 'error' | 'changefeed' | 'publickey';

const ajv = new Ajv({ allErrors: false, strict: false });
ajv.addSchema(defs);
const validators: Record<SchemaName, ValidateFunction> = {
  root: ajv.compile(root),
  targets: ajv.compile(targets),
  snapshot: ajv.compile(snapshot),
  timestamp: ajv.compile(timestamp),
  error: ajv.compile(errorEnvelope),
  changefeed: ajv.compile(changefeed),
  publickey: ajv.compile(publickey),
};

function describe(errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return 'does not match its schema';
  return `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`;
}

/** Throw a JSON_TYPE error naming the first violation when `value` does not fit the schema. */
export function assertSchema(name: SchemaName, value: JsonValue): void {
  const v = validators[name];
  if (!v(value)) throw new TufError('JSON_TYPE', `${name}: ${describe(v.errors)}`);
}

export function matchesSchema(name: SchemaName, value: JsonValue): boolean {
  return validators[name](value) as boolean;
}
