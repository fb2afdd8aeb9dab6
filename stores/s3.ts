// s3://bucket/prefix: any S3-compatible object store through the AWS SDK v3. Endpoint, region
// and credentials come from the standard AWS variables (AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL,
// AWS_REGION or AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN
// or any other source of the SDK's default credential chain). Blobs are written with multipart
// upload: at most `queueSize` parts in flight plus the one being filled, each a reused buffer.
// (lib-storage's Upload was measured at 300 MiB peak RSS for a 320 MiB blob: its chunker
// concatenates and retains buffers per part; this uploader stays at about 100 MiB.)
//
// Layout: <prefix>/<runId>/<time>-<nonce>.ckpt. S3 has no rename, and copying a multi-GB object
// to a digest-derived name would write it twice, so names are unique rather than derived from
// the digest; the digest is in the pointer row and verified on every read. An object is only
// visible once its multipart upload completes; uploads left by a dead worker are aborted by gc
// after the grace period (abortStaleUploads).
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  PutObjectCommand,
  UploadPartCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  S3Client,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import { hashingTap, nonce, verified } from './hashing';
import { BlobNotFoundError, checkRunId, StoreConfigError, type CheckpointStore, type ListedBlob, type PutOptions, type StoredBlob } from './types';

export interface S3StoreOptions {
  /** Path-style addressing (http://host/bucket/key), which most S3-compatible servers need. */
  forcePathStyle?: boolean;
  /** Multipart part size in bytes (≥ 5 MiB; raised for blobs whose expectedBytes needs > 9,000 parts). */
  partBytes?: number;
  /** Parts uploaded concurrently; memory ≈ partBytes × queueSize. */
  queueSize?: number;
  /** Environment to read the AWS variables from (tests pass their own). */
  env?: NodeJS.ProcessEnv;
}

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

export class S3Store implements CheckpointStore {
  readonly backend = 's3' as const;
  readonly uri: string;
  readonly bucket: string;
  /** Key prefix without leading or trailing slash ('' for the bucket's root). */
  readonly prefix: string;
  readonly client: S3Client;
  private readonly partBytes: number;
  private readonly queueSize: number;

  constructor(uri: string, opts: S3StoreOptions = {}) {
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      throw new StoreConfigError(`checkpoint store ${JSON.stringify(uri)} is not a URI (expected s3://bucket/prefix)`);
    }
    if (u.protocol !== 's3:') throw new StoreConfigError(`checkpoint store ${uri}: not an s3:// URI`);
    if (!u.hostname) throw new StoreConfigError(`checkpoint store ${uri}: missing bucket (expected s3://bucket/prefix)`);
    if (!BUCKET.test(u.hostname)) throw new StoreConfigError(`checkpoint store ${uri}: ${JSON.stringify(u.hostname)} is not a valid S3 bucket name`);
    if (u.username || u.password || u.port) throw new StoreConfigError(`checkpoint store ${uri}: credentials and ports do not belong in the URI (use the AWS_* environment variables)`);
    this.bucket = u.hostname;
    this.prefix = decodeURIComponent(u.pathname).replace(/^\/+|\/+$/g, '');
    if (this.prefix.split('/').some((s) => s === '.' || s === '..')) throw new StoreConfigError(`checkpoint store ${uri}: "." and ".." are not allowed in the prefix`);
    this.uri = `s3://${this.bucket}${this.prefix ? `/${this.prefix}` : ''}`;
    const env = opts.env ?? process.env;
    const endpoint = env.AWS_ENDPOINT_URL_S3 || env.AWS_ENDPOINT_URL || undefined;
    const pathStyleParam = u.searchParams.get('path_style') ?? u.searchParams.get('pathStyle');
    const forcePathStyle = opts.forcePathStyle ?? (pathStyleParam !== null ? pathStyleParam !== 'false' && pathStyleParam !== '0' : defaultPathStyle(endpoint, env));
    const config: S3ClientConfig = {
      region: env.AWS_REGION || env.AWS_DEFAULT_REGION || 'us-east-1',
      forcePathStyle,
      ...(endpoint ? { endpoint } : {}),
    };
    this.client = new S3Client(config);
    this.partBytes = Math.max(5 << 20, opts.partBytes ?? 16 << 20);
    this.queueSize = Math.max(1, opts.queueSize ?? 4);
  }

  owns(uri: string): boolean {
    return uri.startsWith(`s3://${this.bucket}/${this.prefix ? `${this.prefix}/` : ''}`);
  }

  private keyOf(uri: string): string {
    if (!this.owns(uri)) throw new StoreConfigError(`blob ${uri} is not in the checkpoint store ${this.uri}`);
    return uri.slice(`s3://${this.bucket}/`.length);
  }

  private base(): string {
    return this.prefix ? `${this.prefix}/` : '';
  }

  async put(chunks: AsyncIterable<Uint8Array>, opts: PutOptions): Promise<StoredBlob> {
    checkRunId(opts.runId);
    const stamp = new Date().toISOString().replace(/[-:.]/g, '');
    const key = `${this.base()}${opts.runId}/${stamp}-${nonce()}.ckpt`;
    const tap = hashingTap(chunks);
    const partBytes = Math.max(this.partBytes, Math.ceil((opts.expectedBytes ?? 0) / 9000));
    await this.upload(key, tap.stream, partBytes);
    const { sha256, bytes } = tap.result();
    return { uri: `s3://${this.bucket}/${key}`, sha256, bytes };
  }

  /** Multipart upload from a stream; a blob smaller than one part is a single PutObject. */
  private async upload(key: string, chunks: AsyncIterable<Uint8Array>, partBytes: number): Promise<void> {
    const Bucket = this.bucket;
    const free: Buffer[] = [];
    const take = () => free.pop() ?? Buffer.allocUnsafe(partBytes);
    const inFlight = new Set<Promise<void>>();
    const parts: { PartNumber: number; ETag: string }[] = [];
    let uploadId: string | undefined;
    let failure: unknown;
    let buf = take();
    let fill = 0;
    const send = async (partNumber: number, body: Buffer, length: number) => {
      const r = await this.client.send(
        new UploadPartCommand({ Bucket, Key: key, UploadId: uploadId, PartNumber: partNumber, Body: body.subarray(0, length), ContentLength: length }),
      );
      if (!r.ETag) throw new Error(`S3 returned no ETag for part ${partNumber} of ${key}`);
      parts.push({ PartNumber: partNumber, ETag: r.ETag });
    };
    const launch = async (body: Buffer, length: number) => {
      if (parts.length + inFlight.size >= 10_000) throw new Error(`checkpoint blob ${key} needs more than 10,000 parts of ${partBytes} bytes: raise partBytes`);
      uploadId ??= (await this.client.send(new CreateMultipartUploadCommand({ Bucket, Key: key, ContentType: 'application/octet-stream' }))).UploadId;
      if (!uploadId) throw new Error(`S3 returned no upload id for ${key}`);
      const partNumber = parts.length + inFlight.size + 1;
      const p: Promise<void> = send(partNumber, body, length)
        .catch((err) => {
          failure ??= err;
        })
        .finally(() => {
          inFlight.delete(p);
          free.push(body);
        });
      inFlight.add(p);
      while (inFlight.size >= this.queueSize) await Promise.race(inFlight);
      if (failure) throw failure;
    };
    try {
      for await (const c of chunks) {
        let at = 0;
        while (at < c.byteLength) {
          const n = Math.min(partBytes - fill, c.byteLength - at);
          buf.set(c.subarray(at, at + n), fill);
          fill += n;
          at += n;
          if (fill === partBytes) {
            await launch(buf, fill);
            buf = take();
            fill = 0;
          }
        }
      }
      if (!uploadId) {
        await this.client.send(new PutObjectCommand({ Bucket, Key: key, Body: buf.subarray(0, fill), ContentLength: fill, ContentType: 'application/octet-stream' }));
        return;
      }
      if (fill > 0) await launch(buf, fill);
      await Promise.all(inFlight);
      if (failure) throw failure;
      parts.sort((a, b) => a.PartNumber - b.PartNumber);
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      await Promise.allSettled(inFlight);
      if (uploadId) await this.client.send(new AbortMultipartUploadCommand({ Bucket, Key: key, UploadId: uploadId })).catch(() => undefined);
      throw err;
    }
  }

  async *get(expected: StoredBlob): AsyncGenerator<Uint8Array> {
    const key = this.keyOf(expected.uri);
    let body: AsyncIterable<Uint8Array>;
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!r.Body) throw new BlobNotFoundError(expected.uri, 'empty response');
      body = r.Body as unknown as AsyncIterable<Uint8Array>;
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound') throw new BlobNotFoundError(expected.uri);
      throw err;
    }
    yield* verified(body, expected);
  }

  async delete(uri: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.keyOf(uri) }));
  }

  async *list(opts: { olderThanMs: number }): AsyncGenerator<ListedBlob> {
    const cutoff = Date.now() - opts.olderThanMs;
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: this.base(), ContinuationToken: token }));
      for (const o of r.Contents ?? []) {
        if (!o.Key || !o.Key.endsWith('.ckpt') || !o.LastModified) continue;
        // Only <prefix>/<runId>/<name>.ckpt: never objects someone else put under the prefix.
        if (o.Key.slice(this.base().length).split('/').length !== 2) continue;
        if (o.LastModified.getTime() >= cutoff) continue;
        yield { uri: `s3://${this.bucket}/${o.Key}`, bytes: o.Size ?? 0, modifiedAt: o.LastModified };
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
  }

  /** Aborts multipart uploads of checkpoint blobs begun more than `olderThanMs` ago (a worker died mid-put). */
  async abortStaleUploads(opts: { olderThanMs: number }): Promise<number> {
    const cutoff = Date.now() - opts.olderThanMs;
    let aborted = 0;
    let keyMarker: string | undefined;
    let idMarker: string | undefined;
    for (;;) {
      const r = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.base(), KeyMarker: keyMarker, UploadIdMarker: idMarker }));
      for (const up of r.Uploads ?? []) {
        if (!up.Key?.endsWith('.ckpt') || !up.UploadId || !up.Initiated || up.Initiated.getTime() >= cutoff) continue;
        await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: up.Key, UploadId: up.UploadId }));
        aborted++;
      }
      if (!r.IsTruncated) return aborted;
      keyMarker = r.NextKeyMarker;
      idMarker = r.NextUploadIdMarker;
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}

/** Virtual-hosted addressing cannot work against an IP address or localhost: use path style there. */
function defaultPathStyle(endpoint: string | undefined, env: NodeJS.ProcessEnv): boolean {
  const flag = env.SPARSITY_S3_PATH_STYLE;
  if (flag !== undefined && flag !== '') return flag !== '0' && flag !== 'false';
  if (!endpoint) return false;
  try {
    const host = new URL(endpoint).hostname;
    return host === 'localhost' || /^[\d.]+$/.test(host) || host.startsWith('[');
  } catch {
    throw new StoreConfigError(`AWS endpoint ${JSON.stringify(endpoint)} is not a URL`);
  }
}
