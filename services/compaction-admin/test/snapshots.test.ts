/**
 * `snapshots list` and `snapshots verify` on versions published through the snapshot store
 * (see `support/versions.ts`).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { useAdminFixture } from './support/fixture.js';

const admin = await useAdminFixture();

describe('snapshots list', () => {
  it('shows every version newest first, the live one marked, with counts, sizes and parents', async () => {
    const { versions } = await admin.publish(3);
    const [v1, v2, v3] = versions as [string, string, string];

    const table = await admin.run(['snapshots', 'list', 'words']);
    expect(table.code).toBe(0);
    expect(table.stdout).toContain(`words: live ${v3}`);
    const rows = table.stdout.split('\n').filter((l) => /^(live|prev|-)\s+\d{12}-/.test(l));
    expect(rows.map((r) => r.split(/\s+/)[1])).toEqual([v3, v2, v1]);
    expect(rows[0]).toMatch(/^live\s/);
    expect(rows[1]).toMatch(/^prev\s/);
    expect(rows[0]).toContain(` 40 `);
    expect(rows[2]).toContain('(first)');

    const json = await admin.run(['snapshots', 'list', 'words', '--json']);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as {
      live: { version: string };
      latestAgreesWithPointer: boolean;
      versions: {
        version: string;
        live: boolean;
        vectors: number;
        parentVersion: string | null;
        sizeBytes: number;
        newBytes: number;
      }[];
    };
    expect(parsed.live.version).toBe(v3);
    expect(parsed.latestAgreesWithPointer).toBe(true);
    expect(parsed.versions.map((v) => [v.version, v.live, v.vectors, v.parentVersion])).toEqual([
      [v3, true, 40, v2],
      [v2, false, 40, v1],
      [v1, false, 40, null],
    ]);
    // A label change rewrites SQLite only: the index blob is shared with the parent.
    expect(parsed.versions[0]!.newBytes).toBeLessThan(parsed.versions[0]!.sizeBytes);
    expect(parsed.versions[2]!.newBytes).toBe(parsed.versions[2]!.sizeBytes);
  });

  it('says so when a collection has nothing yet, and refuses unknown collections with the valid names', async () => {
    const empty = await admin.run(['snapshots', 'list', 'lines']);
    expect(empty.code).toBe(0);
    expect(empty.stdout).toContain('no live version');
    expect(empty.stdout).toContain('no versions in the bucket');

    const bad = await admin.run(['snapshots', 'list', 'receipts']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('unknown collection "receipts"');
    expect(bad.stderr).toContain('next: use one of: lines, words');
  });

  it('refuses to run without a state table or bucket, saying how to name them', async () => {
    const run = await admin.run(['snapshots', 'list', 'words'], { noConnection: true });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/error: no (state table|snapshot bucket) given/);
    expect(run.stderr).toContain('next: pass --stage <stage>');
  });
});

describe('snapshots verify', () => {
  it('downloads the live version, checks every sha256, the vector count and the store digest', async () => {
    const { versions } = await admin.publish(2);
    const run = await admin.run(['snapshots', 'verify', 'words', '--json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.stdout) as {
      ok: boolean;
      reports: {
        version: string;
        depth: string;
        counts: { manifest: number; store: number };
        digest: { manifest?: string; store: string };
      }[];
    };
    expect(report.ok).toBe(true);
    expect(report.reports).toHaveLength(1);
    expect(report.reports[0]).toMatchObject({
      version: versions[1],
      depth: 'store',
      counts: { manifest: 40, store: 40 },
    });
    // The fixture's versions, like those of the compactor's batched path, record no
    // storeDigest (it would cost a full scan per compaction); the store's digest is still
    // computed and reported.
    expect(report.reports[0]!.digest.manifest).toBeUndefined();
    expect(report.reports[0]!.digest.store).toMatch(/^[0-9a-f]{64}$/);

    const human = await admin.run(['snapshots', 'verify', 'words']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(
      /^OK\s+words@\S+ \(live\): \d+ files, .* 40 vectors; every sha256, vector count and store digest/m,
    );
    // Progress goes to stderr (not a terminal here: a line at the start and one at the end).
    expect(human.stderr).toContain('downloaded and checked words@');
  });

  it('exits 1 naming the file when a blob of the version was altered, and 0 for the intact ones', async () => {
    const { versions } = await admin.publish(3);
    const old = await admin.manifest(versions[0]!);
    const live = await admin.manifest(versions[2]!);
    // A blob only the oldest version has (its SQLite database), not shared with the live one.
    const own = old.files.find((f) => !live.files.some((l) => l.sha256 === f.sha256))!;
    await admin.flipByte(own.sha256);

    const bad = await admin.run(['snapshots', 'verify', 'words', versions[0]!]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain(`FAILED  words@${versions[0]}`);
    expect(bad.stdout).toContain(`${own.path}: corrupt snapshot words@${versions[0]}`);
    expect(bad.stdout).toContain('next: do not roll back to a failed version');

    const all = await admin.run(['snapshots', 'verify', 'words', '--all']);
    expect(all.code).toBe(1);
    expect(all.stdout).toContain(`1 of 3 versions FAILED: ${versions[0]}`);

    // --quick only checks presence and size: a flipped byte keeps the size.
    const quick = await admin.run(['snapshots', 'verify', 'words', versions[0]!, '--quick']);
    expect(quick.code).toBe(0);
  });

  it('--quick finds a missing blob without downloading anything', async () => {
    const { versions } = await admin.publish(2);
    const m = await admin.manifest(versions[0]!);
    const first = await admin.manifest(versions[1]!);
    const own = m.files.find((f) => !first.files.some((l) => l.sha256 === f.sha256))!;
    await admin.deleteBlob(own.sha256);
    const run = await admin.run([
      'snapshots',
      'verify',
      'words',
      versions[0]!,
      '--quick',
      '--json',
    ]);
    expect(run.code).toBe(1);
    const report = JSON.parse(run.stdout) as { reports: { problems: string[]; depth: string }[] };
    expect(report.reports[0]!.depth).toBe('presence');
    expect(report.reports[0]!.problems).toEqual([`${own.path}: blob ${own.sha256} is missing`]);
  });

  it('--quick reports a blob whose stored size differs from the manifest (SnapshotRepository.blobSize)', async () => {
    const { versions } = await admin.publish(1);
    const m = await admin.manifest(versions[0]!);
    const file = m.files[0]!;
    expect(await admin.fx.repository.blobSize('words', file.sha256)).toBe(file.size);
    await admin.fx.s3.send(
      new PutObjectCommand({
        Bucket: admin.fx.bucket,
        Key: `words/blobs/${file.sha256}`,
        Body: 'short',
      }),
    );
    expect(await admin.fx.repository.blobSize('words', file.sha256)).toBe(5);
    expect(await admin.fx.repository.blobSize('words', 'f'.repeat(64))).toBeUndefined();
    const run = await admin.run(['snapshots', 'verify', 'words', '--quick']);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `${file.path}: blob ${file.sha256} has 5 bytes, the manifest says ${file.size}`,
    );
  });
});
