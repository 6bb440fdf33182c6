/**
 * Loading the native addon (native/build/Release/cmemu.node). Its contract is typed in two files
 * beside this one: the CPU session in cpu.ts, the POSIX plumbing in posix.ts; both load it here.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: unknown;

/** The addon module as Node loaded it (untyped: cpu.ts and posix.ts give it its types). */
export function loadAddonModule(): unknown {
  if (cached) return cached;
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    join(here, '..', '..', 'native', 'build', 'Release', 'cmemu.node'),
    join(here, '..', '..', '..', 'native', 'build', 'Release', 'cmemu.node'),
  ];
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    throw new Error('cmemu: the native addon is not built (run `make native`, or `make test` which builds everything)');
  }
  cached = createRequire(import.meta.url)(path);
  return cached;
}
