/** The pure TUF core shared by server, signer and CLI. No I/O. */
export * from './errors';
export * from './limits';
export * from './canonical';
export * from './asn1';
export * from './keys';
export * from './x509';
export * from './time';
export * from './roles';
export * from './metadata';
export * from './verify';
export * from './schema';
