// `make build`, after tsc: bundle the command line (dist/cli/main.js and everything it imports) into
// one CommonJS file, dist/cli/main.bundle.cjs, which bin/cmemu compiles with V8's code cache
// (main.bundle.cjs.cache, written by the first run that finds none): no per-module resolve, read,
// link or compile at start-up. bin/cmemu uses the bundle only while no input is newer
// (main.bundle.inputs.json lists them), so a plain `tsc` rebuild is never shadowed by a stale bundle.
//
// Why CommonJS: an ES module cannot be given a code cache on Node 20 (no module.enableCompileCache),
// and an ES bundle hoists every external import to its top (it loaded `ws`, and with it https and
// tls, on every start although only --web uses it). Here external packages are require()d where
// their importer is first initialised, and dynamic import() becomes a lazy require.
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'cli', 'main.bundle.cjs');
// The old ES bundle and any code cache of a previous bundle (V8 checks only the source's length).
for (const f of ['main.bundle.mjs', 'main.bundle.cjs', 'main.bundle.cjs.cache']) rmSync(join(root, 'dist', 'cli', f), { force: true });
// esbuild comes with the dev dependencies (vitest); without it bin/cmemu runs the modules.
let build;
try {
  ({ build } = await import('esbuild'));
} catch {
  process.stderr.write('scripts/bundle.mjs: esbuild is not installed: no bundle (bin/cmemu loads dist/cli/main.js)\n');
  process.exit(0);
}
const r = await build({
  entryPoints: [join(root, 'dist', 'cli', 'main.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  // npm packages stay outside (yargs is loaded only by the forms that parse with it; ws only by --web).
  packages: 'external',
  supported: { 'dynamic-import': false },
  // Modules find files next to themselves (the addon, web/) from import.meta.url; the bundle lives in
  // dist/cli/, as deep as every module it holds.
  define: { 'import.meta.url': '__cmemuBundleUrl' },
  banner: { js: 'var __cmemuBundleUrl = require("node:url").pathToFileURL(__filename).href;' },
  outfile: out,
  metafile: true,
  logLevel: 'warning',
  absWorkingDir: root,
});
writeFileSync(join(root, 'dist', 'cli', 'main.bundle.inputs.json'), JSON.stringify(Object.keys(r.metafile.inputs)));
