/**
 * A few RSA key pairs generated ahead on libuv's thread pool. RSA key generation is
 * the expensive part of issuing an identity (hundreds of ms for 2048 bits on a busy
 * core); with keys ready, issuing costs one native signature, and the event loop never
 * waits for key generation. ECDSA P-256 identity keys (the default) cost ~0.1 ms and
 * pass through the same pool.
 */
import { generateIdentityKeyPair, generateRsaKeyPairAsync, type IdentityKeyType, type PemKeyPair } from './certificates';

/** Keys of one type (an RSA size in bits, or an identity key type), refilled in the background up to `size`. */
export class KeyPool {
  private readonly ready: PemKeyPair[] = [];
  private filling = 0;

  constructor(
    private readonly type: number | IdentityKeyType,
    private readonly size = 2,
  ) {}

  /** A fresh key pair (never handed out twice). */
  async take(): Promise<PemKeyPair> {
    const k = this.ready.shift();
    this.refill();
    return k ?? this.generate();
  }

  private generate(): Promise<PemKeyPair> {
    return typeof this.type === 'number' ? generateRsaKeyPairAsync(this.type) : generateIdentityKeyPair(this.type);
  }

  private refill(): void {
    while (this.ready.length + this.filling < this.size) {
      this.filling++;
      this.generate()
        .then((k) => this.ready.push(k))
        .catch(() => undefined) // the next take() generates inline and reports its own error
        .finally(() => this.filling--);
    }
  }
}
