// file:///shared/path: a directory every worker mounts (NFS, Lustre, or a local disk for one
// host). Layout: <root>/<runId>/<sha256>.<nonce>.ckpt. A put writes `.tmp-<nonce>.part` in the
// run's directory, fsyncs it, renames it to its final name and fsyncs the directory, so a crash
// leaves either no blob or the whole blob under its name (plus at most a temporary file).
//
// Why a nonce as well as the digest: a resumed run reproduces bit-identical checkpoints, and
// garbage collection decides from age and pointers. With names from the digest alone a late
// retry could recreate a name that gc had just judged orphaned, between gc's check and its
// unlink; unique names make "older than the grace period and unreferenced" final.
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { sha256OfFileInWorker } from './fileDigest';
import { checkDigest, hashingTap, nonce, verified } from './hashing';
import { BlobNotFoundError, checkRunId, StoreConfigError, type CheckpointStore, type ListedBlob, type PutOptions, type StoredBlob } from './types';

const READ_CHUNK = 4 << 20;
/** From this size on, a get hashes on a worker thread (below, a thread's start costs more than it saves). */
const PARALLEL_DIGEST_BYTES = 64 << 20;

export class FileStore implements CheckpointStore {
  readonly backend = 'file' as const;
  readonly uri: string;
  readonly root: string;

  /** `uri`: file:///absolute/dir (host empty or localhost). */
  constructor(uri: string) {
    let root: string;
    try {
      root = fileURLToPath(uri);
    } catch (err) {
      throw new StoreConfigError(`checkpoint store ${uri}: ${(err as Error).message} (expected file:///absolute/path)`);
    }
    this.root = path.resolve(root);
    this.uri = pathToFileURL(this.root).href;
  }

  owns(uri: string): boolean {
    return uri.startsWith(`${this.uri}/`);
  }

  private pathOf(uri: string): string {
    if (!this.owns(uri)) throw new StoreConfigError(`blob ${uri} is not in the checkpoint store ${this.uri}`);
    const p = fileURLToPath(uri);
    const rel = path.relative(this.root, p);
    if (rel.startsWith('..') || path.isAbsolute(rel) || rel.split(path.sep).length !== 2) {
      throw new StoreConfigError(`blob ${uri} is not a checkpoint blob of the store ${this.uri}`);
    }
    return p;
  }

  async put(chunks: AsyncIterable<Uint8Array>, opts: PutOptions): Promise<StoredBlob> {
    checkRunId(opts.runId);
    const dir = path.join(this.root, opts.runId);
    const created = await mkdir(dir, { recursive: true });
    if (created) await fsyncDir(path.dirname(dir)).catch(() => undefined);
    const tmp = path.join(dir, `.tmp-${nonce()}.part`);
    const tap = hashingTap(chunks);
    const fh = await open(tmp, 'wx');
    try {
      try {
        // One write in flight while the next chunk is produced and hashed (the write runs on
        // libuv's thread pool, hashing on this thread): the two overlap.
        let pending: Promise<void> = Promise.resolve();
        const writeAll = async (c: Uint8Array) => {
          let at = 0;
          while (at < c.byteLength) {
            const { bytesWritten } = await fh.write(c, at, c.byteLength - at);
            at += bytesWritten;
          }
        };
        try {
          for await (const c of tap.stream) {
            await pending;
            pending = writeAll(c);
          }
        } finally {
          await pending.catch(() => undefined);
        }
        await pending;
        await fh.sync();
      } finally {
        await fh.close();
      }
      const { sha256, bytes } = tap.result();
      const final = path.join(dir, `${sha256}.${nonce()}.ckpt`);
      await rename(tmp, final);
      await fsyncDir(dir);
      return { uri: pathToFileURL(final).href, sha256, bytes };
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }

  async *get(expected: StoredBlob): AsyncGenerator<Uint8Array> {
    const p = this.pathOf(expected.uri);
    const s = await stat(p).catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new BlobNotFoundError(expected.uri, `no file ${p}`) : err;
    });
    if (!s.isFile()) throw new BlobNotFoundError(expected.uri, `${p} is not a file`);
    const chunks = createReadStream(p, { highWaterMark: READ_CHUNK }) as AsyncIterable<Buffer>;
    if (s.size < PARALLEL_DIGEST_BYTES) {
      yield* verified(chunks, expected);
      return;
    }
    // A large blob is hashed on another core while the caller decodes it. Reading the file twice is
    // sound because a blob is never rewritten (unique names, written once, renamed into place): both
    // reads see the same bytes unless the disk itself damages them in between.
    const digest = sha256OfFileInWorker(p);
    let finished = false;
    try {
      let bytes = 0;
      for await (const c of chunks) {
        bytes += c.byteLength;
        yield c;
      }
      const got = await digest.result;
      finished = true;
      // The digest of the worker's read, the length of ours: a file that differs in either fails.
      checkDigest(expected, { sha256: got.sha256, bytes });
    } finally {
      if (!finished) digest.cancel();
    }
  }

  async delete(uri: string): Promise<void> {
    await unlink(this.pathOf(uri)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async *list(opts: { olderThanMs: number }): AsyncGenerator<ListedBlob> {
    const cutoff = Date.now() - opts.olderThanMs;
    const runs = await readdir(this.root, { withFileTypes: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return [];
      throw err;
    });
    for (const run of runs) {
      if (!run.isDirectory()) continue;
      const dir = path.join(this.root, run.name);
      const files = await readdir(dir, { withFileTypes: true }).catch(() => []);
      for (const f of files) {
        if (!f.isFile() || !(f.name.endsWith('.ckpt') || (f.name.startsWith('.tmp-') && f.name.endsWith('.part')))) continue;
        const p = path.join(dir, f.name);
        const s = await stat(p).catch(() => null);
        if (!s || s.mtimeMs >= cutoff) continue;
        yield { uri: pathToFileURL(p).href, bytes: s.size, modifiedAt: s.mtime };
      }
    }
  }

  async close(): Promise<void> {}
}

/** Makes a rename or a new entry in `dir` durable (POSIX: fsync the directory). */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
