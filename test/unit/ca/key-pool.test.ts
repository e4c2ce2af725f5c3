/** KeyPool hands out distinct, valid RSA keys, also when drained faster than it refills. */
import crypto from 'node:crypto';
import t from 'tap';
import { KeyPool } from '../../../cp/ca/key-pool';

t.test('distinct 2048-bit keys, concurrent takes', async (t) => {
  const pool = new KeyPool(2048, 2);
  const keys = await Promise.all(Array.from({ length: 5 }, () => pool.take()));
  t.equal(new Set(keys.map((k) => k.privateKeyPem)).size, 5, 'never the same key twice');
  for (const k of keys) {
    const priv = crypto.createPrivateKey(k.privateKeyPem);
    t.equal(priv.asymmetricKeyDetails?.modulusLength, 2048);
    t.equal(crypto.createPublicKey(priv).export({ type: 'spki', format: 'pem' }), k.publicKeyPem, 'pair matches');
  }
  // Let the background refill settle so the process exits promptly.
  await new Promise((r) => setTimeout(r, 10));
});
