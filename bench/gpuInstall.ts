// A child of `bench gpu`: installs the GPU build of the native backend (stack/nativeBackend.ts) in
// a process of its own, so the check's time limit can stop it (pip, the compiler) as a group.
//   node dist/bench/gpuInstall.js <stateDir>   → last stdout line: EnsureNativeResult JSON
import { ensureNativeBackend } from '../stack/nativeBackend';

if (require.main === module) {
  ensureNativeBackend({ variant: 'gpu', stateDir: process.argv[2], onProgress: (l) => process.stderr.write(`native backend: ${l}\n`) })
    .then((r) => {
      process.stdout.write(`${JSON.stringify(r)}\n`);
      process.exit(r.ok ? 0 : 1);
    })
    .catch((err: unknown) => {
      process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
      process.exit(1);
    });
}
