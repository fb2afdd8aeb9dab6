// Finding Temporal and Postgres: the environment first (a real cluster and a shared
// database), then the embedded stack a `sparsity dev` in another terminal wrote down.
import { existsSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Endpoints } from '../workers/connections';
import { sparsityHome } from './paths';
import { isAlive } from './processes';

interface EndpointsFile extends Endpoints {
  pid: number;
}

export function endpointsFile(home = sparsityHome()): string {
  return path.join(home, 'endpoints.json');
}

/** The embedded stack's endpoints, if a live `sparsity dev` wrote them. */
export function readEmbeddedEndpoints(home = sparsityHome()): Endpoints | undefined {
  const file = endpointsFile(home);
  if (!existsSync(file)) return undefined;
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as EndpointsFile;
    if (!isAlive(data.pid)) return undefined;
    return { temporalAddress: data.temporalAddress, namespace: data.namespace, databaseUrl: data.databaseUrl, uiUrl: data.uiUrl };
  } catch {
    return undefined;
  }
}

export function writeEmbeddedEndpoints(ep: Endpoints, home = sparsityHome()): void {
  mkdirSync(home, { recursive: true });
  const data: EndpointsFile = { ...ep, pid: process.pid };
  // Other commands read the URL from here; keep it to this user.
  writeFileSync(endpointsFile(home), `${JSON.stringify(data, null, 2)}\n`, { mode: 0o600 });
}

export function removeEmbeddedEndpoints(home = sparsityHome()): void {
  rmSync(endpointsFile(home), { force: true });
}

export class NoServiceError extends Error {
  override name = 'NoServiceError';
}

export function envEndpoints(env: NodeJS.ProcessEnv = process.env): Partial<Endpoints> {
  return {
    ...(env.TEMPORAL_ADDRESS ? { temporalAddress: env.TEMPORAL_ADDRESS } : {}),
    ...(env.DATABASE_URL ? { databaseUrl: env.DATABASE_URL } : {}),
    namespace: env.TEMPORAL_NAMESPACE ?? 'default',
  };
}

/** Endpoints for commands that talk to a running stack (submit, status, worker, ...). */
export function resolveEndpoints(): Endpoints {
  const env = envEndpoints();
  const embedded = readEmbeddedEndpoints();
  const temporalAddress = env.temporalAddress ?? embedded?.temporalAddress;
  const databaseUrl = env.databaseUrl ?? embedded?.databaseUrl;
  const none = () => `no \`sparsity dev\` is running for ${sparsityHome()} (SPARSITY_HOME)`;
  if (!temporalAddress) {
    throw new NoServiceError(`no Temporal server: ${none()}; start one in another terminal, or set TEMPORAL_ADDRESS`);
  }
  if (!databaseUrl) {
    throw new NoServiceError(`no database: ${none()}; start one in another terminal, or set DATABASE_URL`);
  }
  return { temporalAddress, databaseUrl, namespace: env.namespace ?? 'default', uiUrl: embedded?.uiUrl };
}

/** Masks the password in a connection URL for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url.replace(/:[^:@/]*@/, ':***@');
  }
}
