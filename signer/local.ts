/**
 * An in-process key holder behind the KeyService interface. For unit tests only: the shipped
 * server always uses the signer process (signer/client.ts). Keys live in memory.
 */
import { generatePrivateKey, PrivateKey, signRaw } from '../tuf/keys';
import { KeyAlgorithm, KeyInfo, KeyNotHeldError, KeyService, OnlineRole } from './api';

interface Held {
  key: PrivateKey;
  gun: string;
  role: string;
  used: boolean;
}

export class LocalKeyService implements KeyService {
  private readonly keys = new Map<string, Held>();

  async createKey(gun: string, role: OnlineRole, algorithm: KeyAlgorithm) {
    // Notary's "pending key" rule: reuse a still-unused key of the same gun/role/algorithm
    for (const h of this.keys.values()) {
      if (!h.used && h.gun === gun && h.role === role && h.key.keytype === algorithm) return h.key.public;
    }
    const key = generatePrivateKey(algorithm);
    this.keys.set(key.public.id, { key, gun, role, used: false });
    return key.public;
  }

  async getKeyInfo(keyId: string): Promise<KeyInfo | null> {
    const h = this.keys.get(keyId);
    return h ? { key: h.key.public, role: h.role, gun: h.gun } : null;
  }

  async sign(keyId: string, message: Buffer): Promise<Buffer> {
    const h = this.keys.get(keyId);
    if (!h) throw new KeyNotHeldError(keyId);
    h.used = true;
    return signRaw(h.key, message).sig;
  }

  async deleteGunKeys(gun: string) {
    for (const [id, h] of this.keys) if (h.gun === gun) this.keys.delete(id);
  }

  async health() {}
  async close() {}
}
