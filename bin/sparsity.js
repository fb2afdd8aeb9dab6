#!/usr/bin/env node
// Runs the compiled CLI; `npm install` builds it (the `prepare` script).
const path = require('node:path');
const fs = require('node:fs');
const entry = path.join(__dirname, '..', 'dist', 'cli', 'main.js');
if (!fs.existsSync(entry)) {
  process.stderr.write('sparsity is not built yet: run `npm install` (or `npm run build`) in ' + path.join(__dirname, '..') + '\n');
  process.exit(1);
}
require(entry).main(process.argv).then(() => {
  setTimeout(() => process.exit(process.exitCode ?? 0), 50).unref();
});
