/**
 * A few RSA key pairs generated ahead on libuv's thread pool. RSA key generation is
 * the expensive part of issuing an identity (hundreds of ms for 2048 bits on a busy
 * core); with keys ready, issuing costs one native signature, and the event loop never
 * waits for key generation.
 */
import { generateRsaKeyPairAsync, type PemKeyPair } from './certificates';

/** Keys of one size, refilled in the background up to `size`. */
export class KeyPool {
  private readonly ready: PemKeyPair[] = [];
  private filling = 0;

  constructor(
    private readonly bits: number,
    private readonly size = 2,
  ) {}

  /** A fresh key pair (never handed out twice). */
  async take(): Promise<PemKeyPair> {
    const k = this.ready.shift();
    this.refill();
    return k ?? generateRsaKeyPairAsync(this.bits);
  }

  private refill(): void {
    while (this.ready.length + this.filling < this.size) {
      this.filling++;
      generateRsaKeyPairAsync(this.bits)
        .then((k) => this.ready.push(k))
        .catch(() => undefined) // the next take() generates inline and reports its own error
        .finally(() => this.filling--);
    }
  }
}
