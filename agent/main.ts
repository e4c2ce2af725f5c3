#!/usr/bin/env node
// Entry point placeholder; replaced by the real CLI.
console.error('not implemented yet');
process.exit(70);
