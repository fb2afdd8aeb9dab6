// How every process reaches Temporal and Postgres. Credentials come from the environment
// only: they are never logged, never stored in a sweep's spec.
import { readFileSync } from 'node:fs';
import { Client, Connection, type ConnectionOptions } from '@temporalio/client';
import { NativeConnection, type NativeConnectionOptions } from '@temporalio/worker';

export interface Endpoints {
  temporalAddress: string;
  namespace: string;
  databaseUrl: string;
  uiUrl?: string;
}

/** TLS for Temporal: mTLS (Temporal Cloud, self-hosted with client certs) or server TLS, or an API key. */
export function temporalTlsFromEnv(env: NodeJS.ProcessEnv = process.env) {
  const certPath = env.TEMPORAL_TLS_CERT;
  const keyPath = env.TEMPORAL_TLS_KEY;
  const caPath = env.TEMPORAL_TLS_CA;
  const serverName = env.TEMPORAL_TLS_SERVER_NAME;
  const apiKey = env.TEMPORAL_API_KEY;
  if ((certPath && !keyPath) || (!certPath && keyPath)) {
    throw new Error('TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY must be set together (mTLS client certificate and key)');
  }
  const wantTls = Boolean(certPath || caPath || apiKey || env.TEMPORAL_TLS === '1' || env.TEMPORAL_TLS === 'true');
  if (!wantTls) return { tls: undefined, apiKey: undefined };
  return {
    tls: {
      ...(serverName ? { serverNameOverride: serverName } : {}),
      ...(caPath ? { serverRootCACertificate: readFileSync(caPath) } : {}),
      ...(certPath && keyPath ? { clientCertPair: { crt: readFileSync(certPath), key: readFileSync(keyPath) } } : {}),
    },
    apiKey,
  };
}

export async function connectClient(ep: Endpoints): Promise<Client> {
  const { tls, apiKey } = temporalTlsFromEnv();
  const options: ConnectionOptions = {
    address: ep.temporalAddress,
    connectTimeout: '5s',
    ...(tls ? { tls } : {}),
    ...(apiKey ? { apiKey } : {}),
  };
  const connection = await Connection.connect(options);
  return new Client({ connection, namespace: ep.namespace });
}

export async function connectWorkerConnection(ep: Endpoints): Promise<NativeConnection> {
  const { tls, apiKey } = temporalTlsFromEnv();
  const options: NativeConnectionOptions = {
    address: ep.temporalAddress,
    ...(tls ? { tls } : {}),
    ...(apiKey ? { apiKey } : {}),
  };
  return NativeConnection.connect(options);
}
