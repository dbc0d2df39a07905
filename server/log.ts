/**
 * Structured JSON logs (pino). Secrets never reach a log line: authorization headers, tokens,
 * passphrases, private keys and database URLs are redacted wherever they appear in a logged
 * object, and the code never logs request bodies.
 */
import pino, { Logger } from 'pino';
import type { LogLevel } from './config';

export const REDACT_PATHS = [
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'token',
  '*.token',
  'passphrase',
  '*.passphrase',
  'password',
  '*.password',
  'privateKey',
  '*.privateKey',
  'db_url',
  '*.db_url',
  '*.*.db_url',
  'storage.url',
  'config.storage.url',
];

export function createLogger(level: LogLevel = 'info', destination?: pino.DestinationStream): Logger {
  const opts: pino.LoggerOptions = {
    level,
    base: { service: 'vouch-server' },
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(opts, destination) : pino(opts);
}
