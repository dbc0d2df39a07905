/**
 * The CLI's TUF client (read side): the update workflow, trust pinning and target resolution.
 * Commands use this; it uses `../remote` to talk to the server and `../cache` for the trust dir.
 */
export * from './errors';
export * from './pinning';
export * from './delegations';
export * from './update';
export * from './targets';
