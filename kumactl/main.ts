#!/usr/bin/env node
/** kumactl entry point: runs the CLI on the process's argv, stdio and clock. */
import { runKumactl } from './cli';

function readStdin(): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    process.stdin.on('data', (c: Buffer) => {
      size += c.length;
      // Same cap as -f FILE: the CP refuses bodies over 1 MiB anyway.
      if (size > 1024 * 1024) {
        process.stdin.destroy();
        reject(new Error('stdin holds more than 1 MiB'));
        return;
      }
      chunks.push(c);
    });
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    process.stdin.on('error', reject);
  });
}

runKumactl(process.argv.slice(2), process.env, {
  out: (s) => process.stdout.write(s),
  err: (s) => process.stderr.write(s),
  readStdin,
  now: () => Date.now(),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    process.stderr.write(`Error: ${(err as Error)?.message ?? String(err)}\n`);
    process.exitCode = 1;
  },
);
