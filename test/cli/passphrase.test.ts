/**
 * Passphrases: notary's environment variables (and vouch/Docker twins), a hidden prompt only on
 * a terminal, and an immediate clear failure with neither: never a hang.
 */
import { EventEmitter } from 'node:events';
import { envPassphrase, makePassphraseSource, passphraseVariables, readHidden, TerminalInput } from '../../cli/passphrase';

const req = (alias: string, extra: Partial<{ createNew: boolean; attempt: number }> = {}) => ({ alias, keyId: 'abcdef0123456789', createNew: false, attempt: 0, ...extra });

class FakeTty extends EventEmitter implements TerminalInput {
  isTTY = true;
  raw: boolean[] = [];
  constructor(private readonly lines: string[]) {
    super();
  }
  setRawMode(m: boolean) {
    this.raw.push(m);
  }
  resume() {
    const line = this.lines.shift();
    if (line !== undefined) setImmediate(() => this.emit('data', Buffer.from(line)));
  }
  pause() {}
}

function sink() {
  const out: string[] = [];
  return { out, write: (s: string) => out.push(s) };
}

describe('environment variables', () => {
  it('uses notary names per alias, VOUCH_ first, delegation for any non-base alias', () => {
    expect(passphraseVariables('root')).toEqual(['VOUCH_ROOT_PASSPHRASE', 'NOTARY_ROOT_PASSPHRASE', 'DOCKER_CONTENT_TRUST_ROOT_PASSPHRASE']);
    expect(passphraseVariables('targets')).toEqual(['VOUCH_TARGETS_PASSPHRASE', 'NOTARY_TARGETS_PASSPHRASE', 'DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE']);
    expect(passphraseVariables('targets/releases')).toEqual(['VOUCH_DELEGATION_PASSPHRASE', 'NOTARY_DELEGATION_PASSPHRASE', 'DOCKER_CONTENT_TRUST_REPOSITORY_PASSPHRASE']);
    expect(passphraseVariables('alice')[1]).toBe('NOTARY_DELEGATION_PASSPHRASE');
    // timestamp keys are never local: no variable, as in notary
    expect(passphraseVariables('timestamp')).toEqual([]);
  });

  it('returns the first set variable and ignores empty ones', async () => {
    expect(envPassphrase('root', { VOUCH_ROOT_PASSPHRASE: '', NOTARY_ROOT_PASSPHRASE: 'n-root-pass' })).toEqual({ value: 'n-root-pass', variable: 'NOTARY_ROOT_PASSPHRASE' });
    const source = makePassphraseSource({ env: { VOUCH_SNAPSHOT_PASSPHRASE: 'v-snap-pass', NOTARY_SNAPSHOT_PASSPHRASE: 'n-snap-pass' }, input: new FakeTty([]), output: sink() });
    await expect(source(req('snapshot'))).resolves.toBe('v-snap-pass');
  });

  it('fails at once (no retry loop) when the variable holds a wrong passphrase', async () => {
    const source = makePassphraseSource({ env: { NOTARY_TARGETS_PASSPHRASE: 'wrong-one' }, input: new FakeTty([]), output: sink() });
    await expect(source(req('targets', { attempt: 1 }))).rejects.toMatchObject({ code: 'KEYS', message: expect.stringContaining('NOTARY_TARGETS_PASSPHRASE') });
  });
});

describe('no terminal', () => {
  it('fails immediately with a message naming the variables, and never prints a passphrase', async () => {
    const out = sink();
    const source = makePassphraseSource({ env: {}, input: { ...new FakeTty([]), isTTY: false } as unknown as TerminalInput, output: out });
    const started = Date.now();
    await expect(source(req('root'))).rejects.toMatchObject({ code: 'KEYS', message: expect.stringMatching(/stdin is not a terminal: set VOUCH_ROOT_PASSPHRASE or NOTARY_ROOT_PASSPHRASE/) });
    expect(Date.now() - started).toBeLessThan(1000);
    expect(out.out).toEqual([]);
  });
});

describe('terminal prompt', () => {
  it('reads hidden input in raw mode, handling backspace', async () => {
    const tty = new FakeTty(['secrex\u007ft\r']);
    const out = sink();
    await expect(readHidden(tty, out, 'Passphrase: ')).resolves.toBe('secret');
    expect(tty.raw).toEqual([true, false]);
    // nothing typed is echoed
    expect(out.out.join('')).toBe('Passphrase: \n');
  });

  it('asks twice for a new key, refuses short and mismatched passphrases, then accepts', async () => {
    const tty = new FakeTty(['short\r', 'long-enough-1\r', 'long-enough-2\r', 'long-enough-1\r', 'long-enough-1\r']);
    const out = sink();
    const source = makePassphraseSource({ env: {}, input: tty, output: out });
    await expect(source(req('targets', { createNew: true }))).resolves.toBe('long-enough-1');
    const text = out.out.join('');
    expect(text).toMatch(/at least 8 characters/);
    expect(text).toMatch(/do not match/);
    expect(text).not.toMatch(/long-enough/);
  });

  it('remembers a prompted passphrase per alias for the rest of the command', async () => {
    const tty = new FakeTty(['remembered-pass\r']);
    const source = makePassphraseSource({ env: {}, input: tty, output: sink() });
    await expect(source(req('root'))).resolves.toBe('remembered-pass');
    await expect(source(req('root'))).resolves.toBe('remembered-pass');
  });

  it('Ctrl-C cancels the prompt', async () => {
    const source = makePassphraseSource({ env: {}, input: new FakeTty(['\u0003']), output: sink() });
    await expect(source(req('root'))).rejects.toThrow(/cancelled/);
  });

  it('gives up after three wrong attempts', async () => {
    const source = makePassphraseSource({ env: {}, input: new FakeTty([]), output: sink() });
    await expect(source(req('root', { attempt: 3 }))).rejects.toThrow(/too many attempts/);
  });
});
