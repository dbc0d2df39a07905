import { SignerError } from '../../signer/errors';
import { Keyring, parseKdf, passphraseVariables } from '../../signer/sealing';

describe('sealing private keys at rest', () => {
  const aad = Buffer.from('row-1');
  const secret = Buffer.from('a private key, in the clear');

  async function ring(passphrase: string): Promise<Keyring> {
    const k = new Keyring({ NOTARY_SIGNER_ALIAS1: passphrase });
    const { kdf, salt } = Keyring.newKdf();
    k.setCurrentKdf('alias1', kdf, salt);
    return k;
  }

  it('round-trips under AES-256-GCM with scrypt parameters stored alongside', async () => {
    const k = await ring('correct horse');
    const s = await k.seal('alias1', secret, aad);
    expect(s.kdf).toBe('scrypt:N=131072,r=8,p=1');
    expect(s.kdfSalt).toHaveLength(16);
    expect(s.nonce).toHaveLength(12);
    expect(s.sealed).toHaveLength(secret.length + 16);
    expect(s.sealed.includes(secret.subarray(0, 8))).toBe(false);
    expect((await k.open(s, aad)).equals(secret)).toBe(true);
    // two seals of the same value never share a nonce or ciphertext
    const again = await k.seal('alias1', secret, aad);
    expect(again.nonce.equals(s.nonce)).toBe(false);
    expect(again.sealed.equals(s.sealed)).toBe(false);
  });

  it('refuses a wrong passphrase without saying what the passphrase was', async () => {
    const s = await (await ring('correct horse')).seal('alias1', secret, aad);
    const wrong = new Keyring({ NOTARY_SIGNER_ALIAS1: 'battery staple' });
    await expect(wrong.open(s, aad)).rejects.toThrow(/wrong passphrase for alias "alias1" \(NOTARY_SIGNER_ALIAS1\)/);
    await expect(wrong.open(s, aad)).rejects.not.toThrow(/battery|horse/);
  });

  it('refuses a ciphertext moved to another row (additional data binds it)', async () => {
    const k = await ring('correct horse');
    const s = await k.seal('alias1', secret, aad);
    await expect(k.open(s, Buffer.from('row-2'))).rejects.toBeInstanceOf(SignerError);
  });

  it('refuses a flipped ciphertext bit', async () => {
    const k = await ring('correct horse');
    const s = await k.seal('alias1', secret, aad);
    s.sealed[3] = (s.sealed[3] as number) ^ 1;
    await expect(k.open(s, aad)).rejects.toThrow(/wrong passphrase|altered/);
  });

  it('names both variables when the passphrase is missing', async () => {
    const k = new Keyring({});
    const { kdf, salt } = Keyring.newKdf();
    await expect(k.open({ alias: 'my.alias', kdf, kdfSalt: salt, nonce: Buffer.alloc(12), sealed: Buffer.alloc(32) }, aad)).rejects.toThrow(
      'no passphrase for alias "my.alias": set NOTARY_SIGNER_MY_ALIAS or VOUCH_SIGNER_MY_ALIAS',
    );
    expect(passphraseVariables('a.b')).toEqual(['NOTARY_SIGNER_A_B', 'VOUCH_SIGNER_A_B']);
  });

  it('accepts the VOUCH_SIGNER_ spelling and ignores an empty variable', async () => {
    const k = new Keyring({ NOTARY_SIGNER_ALIAS1: '', VOUCH_SIGNER_ALIAS1: 'pw' });
    expect(k.hasPassphrase('alias1')).toBe(true);
    expect(new Keyring({ NOTARY_SIGNER_ALIAS1: '' }).hasPassphrase('alias1')).toBe(false);
  });

  it('refuses stored KDF parameters that are too weak or too costly (tampered database)', () => {
    expect(parseKdf('scrypt:N=131072,r=8,p=1')).toEqual({ N: 131072, r: 8, p: 1 });
    expect(() => parseKdf('scrypt:N=1024,r=8,p=1')).toThrow(/outside the accepted bounds/);
    expect(() => parseKdf('scrypt:N=4194304,r=8,p=1')).toThrow(/outside the accepted bounds/);
    expect(() => parseKdf('scrypt:N=100000,r=8,p=1')).toThrow(/outside the accepted bounds/);
    expect(() => parseKdf('scrypt:N=1048576,r=32,p=1')).toThrow(/outside the accepted bounds/);
    expect(() => parseKdf('pbkdf2:c=1')).toThrow(/not recognised/);
  });
});
