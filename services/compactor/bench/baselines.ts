/**
 * What moving the same bytes costs without the compactor: a local copy (`fs.cp`), a
 * plain S3 upload of every file to the emulator, and a plain download back. The
 * compactor's phases are reported as ratios to these, measured in the same run on the
 * same (shared) machine.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DeleteObjectCommand, GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';

export interface Baselines {
  copyMs: number;
  plainUploadMs: number;
  plainDownloadMs: number;
}

async function files(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile())
      out.push(relative(dir, join(entry.parentPath, entry.name)).split(sep).join('/'));
  }
  return out.sort();
}

/** Measures the three baselines on the files of `dir`; `scratch` receives copies. */
export async function measureBaselines(args: {
  dir: string;
  scratch: string;
  s3: S3Client;
  bucket: string;
}): Promise<Baselines> {
  const { dir, scratch, s3, bucket } = args;
  const list = await files(dir);

  const copyTarget = join(scratch, 'plain-copy');
  let start = performance.now();
  await cp(dir, copyTarget, { recursive: true });
  const copyMs = performance.now() - start;
  await rm(copyTarget, { recursive: true, force: true });

  start = performance.now();
  for (const path of list) {
    await new Upload({
      client: s3,
      params: {
        Bucket: bucket,
        Key: `bench-plain/${path}`,
        Body: createReadStream(join(dir, path)),
      },
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
    }).done();
  }
  const plainUploadMs = performance.now() - start;

  const downloadTarget = join(scratch, 'plain-download');
  start = performance.now();
  for (const path of list) {
    const target = join(downloadTarget, path);
    await mkdir(dirname(target), { recursive: true });
    const out = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: `bench-plain/${path}` }));
    await pipeline(out.Body as Readable, createWriteStream(target));
  }
  const plainDownloadMs = performance.now() - start;
  await rm(downloadTarget, { recursive: true, force: true });
  // The emulator keeps objects in memory: free what the baseline uploaded.
  for (const path of list) {
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: `bench-plain/${path}` }));
  }
  return { copyMs, plainUploadMs, plainDownloadMs };
}
