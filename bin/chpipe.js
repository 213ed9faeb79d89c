#!/usr/bin/env node
// `chpipe --help` and `--version` are answered from text generated at build
// time (dist/help.txt, package.json), so they start as fast as node itself;
// test/cli/help.test.ts checks that text against commander's own output.
// Everything else goes to the commander program in dist/cli/main.js.
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const fast = args.length === 1 && !process.env.CHPIPE_NO_FAST_HELP ? args[0] : undefined;
if (fast === '--help' || fast === '-h') {
  process.stdout.write(readFileSync(new URL('../dist/help.txt', import.meta.url), 'utf8'));
} else if (fast === '--version' || fast === '-V') {
  process.stdout.write(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version + '\n');
} else {
  const { runProcess } = await import('../dist/cli/main.js');
  await runProcess();
}
