// What an install of the native backend still has to fetch, and whether pip and npm, as this host
// configures them, can reach it. Checked in seconds before the install starts: without it a host
// with no route to the registries (a GPU node without internet) spends pip's and npm's timeouts,
// minutes each, before failing on a line from deep inside the install script.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { NativeVariant } from '../engine/types';

/** The wheel platforms scripts/tfjs-node/install.sh downloads for (its C libraries are Python-independent). */
const WHEEL_TARGET = ['--python-version', '3.11', '--implementation', 'cp', '--only-binary=:all:', '--platform', 'manylinux2014_x86_64', '--platform', 'manylinux_2_17_x86_64', '--platform', 'manylinux_2_27_x86_64', '--platform', 'manylinux_2_28_x86_64'];
const PROBE_TIMEOUT_S = 15;

export interface InstallTarget {
  variant: NativeVariant;
  tensorflow: string;
  /** Per-machine library cache for this TensorFlow (holds VERSION once extracted). */
  libDir: string;
  /** The tfjs-node(-gpu) package directory in the state directory's install. */
  packageDir: string;
  /** A pristine npm tree of the package on this machine, copied instead of running npm. */
  npmTreeCache: string;
  tfjsNodeVersion: string;
}

export interface StillToFetch {
  /** The TensorFlow wheel (and, for the GPU, the CUDA wheels its METADATA pins) from PyPI, or null. */
  pypi: { name: string; version: string; size: string } | null;
  /** The npm package, or null. */
  npm: string | null;
}

const tfWheel = (v: NativeVariant) => (v === 'gpu' ? 'tensorflow' : 'tensorflow-cpu');
const tfjsPackage = (v: NativeVariant) => (v === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node');

function readVersion(file: string, field?: string): string | null {
  try {
    const text = readFileSync(file, 'utf8');
    return field ? ((JSON.parse(text) as Record<string, unknown>)[field] as string) ?? null : text.trim();
  } catch {
    return null;
  }
}

/** Mirrors install.sh's skip conditions for its two network steps. */
export function stillToFetch(t: InstallTarget): StillToFetch {
  const libsThere = readVersion(path.join(t.libDir, 'VERSION')) === `${t.variant}/${t.tensorflow}`;
  const pkg = tfjsPackage(t.variant);
  const packageThere =
    readVersion(path.join(t.packageDir, 'package.json'), 'version') === t.tfjsNodeVersion ||
    existsSync(path.join(t.npmTreeCache, 'node_modules', ...pkg.split('/'), 'package.json'));
  return {
    pypi: libsThere ? null : { name: tfWheel(t.variant), version: t.tensorflow, size: t.variant === 'gpu' ? '~2.5 GB with the CUDA wheels' : '~200 MB' },
    npm: packageThere ? null : `${pkg}@${t.tfjsNodeVersion}`,
  };
}

/**
 * Why what is still to fetch cannot be fetched from here, or null. Asks pip (`pip index versions`,
 * with install.sh's target platform) and npm (`npm view`) as they are configured on this host, so a
 * mirror set through PIP_INDEX_URL / pip.conf or npm_config_registry / .npmrc counts.
 */
export function unreachableSource(fetch: StillToFetch, env: NodeJS.ProcessEnv): string | null {
  const problems: string[] = [];
  if (fetch.pypi) {
    const { name, version } = fetch.pypi;
    const r = spawnSync('python3', ['-m', 'pip', 'index', 'versions', name, ...WHEEL_TARGET, '--timeout', String(PROBE_TIMEOUT_S), '--retries', '1', '--disable-pip-version-check'], {
      env,
      encoding: 'utf8',
      timeout: 4 * PROBE_TIMEOUT_S * 1000,
    });
    const listed = /Available versions:\s*(.*)/.exec(r.stdout ?? '')?.[1]?.split(/,\s*/) ?? [];
    if (!listed.includes(version)) {
      const why = r.status === 0 ? `it lists ${name} ${listed.slice(0, 3).join(', ')}… but not ${version}` : connectionError(r.stderr) ?? (lastLine(r.stderr) || (r.error ? r.error.message : `exit ${r.status}`));
      problems.push(`pip, as configured here, cannot get ${name}==${version} (${why})`);
    }
  }
  if (fetch.npm) {
    const r = spawnSync('npm', ['view', fetch.npm, 'version', '--fetch-retries=0', `--fetch-timeout=${PROBE_TIMEOUT_S * 1000}`], { env, encoding: 'utf8', timeout: 4 * PROBE_TIMEOUT_S * 1000 });
    if (r.status !== 0 || !(r.stdout ?? '').trim()) {
      const why = (r.stderr ?? '').split('\n').find((l) => /npm error (code|request|network)|ECONN|ENOTFOUND|ETIMEDOUT|E404/.test(l))?.replace(/^npm error\s*/, '') ?? lastLine(r.stderr) ?? `exit ${r.status}`;
      problems.push(`npm, as configured here, cannot get ${fetch.npm} (${why})`);
    }
  }
  return problems.length ? problems.join('; ') : null;
}

/** pip's own words for a failed connection ("Connection refused", "timed out", ...) and the path it asked for. */
function connectionError(stderr: string | null | undefined): string | null {
  const line = (stderr ?? '').split('\n').find((l) => l.includes('after connection broken by'));
  if (!line) return null;
  const reason = /\[Errno -?\d+\] ([^'"]+)/.exec(line)?.[1] ?? /(timed out|Name or service not known|Temporary failure in name resolution)/i.exec(line)?.[1] ?? 'connection failed';
  const asked = /:\s*(\/\S*)\s*$/.exec(line)?.[1];
  return asked ? `${reason.trim()} fetching ${asked}` : reason.trim();
}

function lastLine(text: string | null | undefined): string {
  return (text ?? '').trim().split('\n').filter((l) => !/^WARNING: pip index is currently an experimental/.test(l)).pop()?.trim() ?? '';
}
