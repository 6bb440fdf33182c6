// `make build`, after tsc: bundle the command line (dist/cli/main.js and everything it imports) into
// one module, dist/cli/main.bundle.mjs: bin/cmemu starts ~30 ms sooner than from the 54 modules
// (no per-module resolve, read and link). bin/cmemu uses it only while no input is newer
// (main.bundle.inputs.json lists them), so a plain `tsc` rebuild is never shadowed by a stale bundle.
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'cli', 'main.bundle.mjs');
// esbuild comes with the dev dependencies (vitest); without it bin/cmemu runs the modules.
let build;
try {
  ({ build } = await import('esbuild'));
} catch {
  rmSync(out, { force: true });
  process.stderr.write('scripts/bundle.mjs: esbuild is not installed: no bundle (bin/cmemu loads dist/cli/main.js)\n');
  process.exit(0);
}
const r = await build({
  entryPoints: [join(root, 'dist', 'cli', 'main.js')],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // npm packages stay outside: yargs is loaded only by the forms that parse with it, and CommonJS
  // packages (ws, for --web) cannot be inlined into an ES module (their require() of Node's
  // built-ins fails there). Only our own modules are bundled.
  packages: 'external',
  outfile: out,
  metafile: true,
  logLevel: 'warning',
  absWorkingDir: root,
});
writeFileSync(join(root, 'dist', 'cli', 'main.bundle.inputs.json'), JSON.stringify(Object.keys(r.metafile.inputs)));
