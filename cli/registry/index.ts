/** The registry client: image references, credentials, and manifest resolution. */
export * from './errors';
export * from './limits';
export * from './reference';
export * from './credentials';
export { parseChallenges } from './auth';
export type { Challenge } from './auth';
export * from './client';
