/**
 * The CLI as operators run it: a real child process through its bin (the built bundle, exit
 * codes, streams). Stdin is a pipe here, so it is never a terminal.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { useAdminFixture } from './support/fixture.js';

const admin = await useAdminFixture();

const COMMANDS = [
  ['snapshots', 'list'],
  ['snapshots', 'verify'],
  ['rollback'],
  ['prune'],
  ['audit'],
  ['health'],
] as const;

describe('compaction-admin as a process', () => {
  it('prints help for the program and every command (exit 0), with the connection options and examples', async () => {
    const root = await admin.spawn(['--help'], { noConnection: true });
    expect(root.code).toBe(0);
    for (const name of ['snapshots', 'rollback', 'prune', 'audit', 'health'])
      expect(root.stdout).toContain(`  ${name}`);
    expect(root.stdout).toContain('Exit codes:');
    expect(root.stdout).toContain('2  usage error');
    const helps = await Promise.all(
      COMMANDS.map((c) => admin.spawn([...c, '--help'], { noConnection: true })),
    );
    helps.forEach((help, i) => {
      expect(help.code, COMMANDS[i]!.join(' ')).toBe(0);
      expect(help.stdout).toContain(`Usage: compaction-admin ${COMMANDS[i]!.join(' ')}`);
      expect(help.stdout).toContain('Connection:');
      expect(help.stdout).toContain('--stage <stage>');
      expect(help.stdout).toMatch(/Examples?:/);
    });
    expect(helps[2]!.stdout).toContain('warm cache is keyed by version');
  });

  it('prints the version of its package (--version)', async () => {
    const { version } = JSON.parse(
      readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
    ) as { version: string };
    const run = await admin.spawn(['--version'], { noConnection: true });
    expect(run.code).toBe(0);
    expect(run.stdout.trim()).toBe(version);
  });

  it('exits 2 on usage errors and says what to do', async () => {
    const none = await admin.spawn([], { noConnection: true });
    expect(none.code).toBe(2);
    const unknown = await admin.spawn(['rollbak'], { noConnection: true });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown command 'rollbak'");
    expect(unknown.stderr).toContain('(Did you mean rollback?)');
    const collection = await admin.spawn(['snapshots', 'list', 'receipts']);
    expect(collection.code).toBe(2);
    expect(collection.stderr).toContain('next: use one of: lines, words');
  });

  it('refuses a rollback without a terminal and without --yes (exit 1), then does it with --yes', async () => {
    const { versions } = await admin.publish(2);
    const refused = await admin.spawn(['rollback', 'words', '--steps', '1'], { input: 'y\n' });
    expect(refused.code).toBe(1);
    expect(refused.stdout).toContain(`target    ${versions[0]}`);
    expect(refused.stderr).toContain(
      'error: refusing to act without confirmation: stdin is not a terminal and --yes was not given',
    );
    expect(refused.stderr).toContain(
      'next: check the plan (add --dry-run), then re-run with --yes',
    );
    expect(refused.stderr).not.toContain('NodeVersionSupportWarning');
    expect((await admin.fx.pointers.read('words'))!.version).toBe(versions[1]);

    const done = await admin.spawn(['rollback', 'words', '--steps', '1', '--yes', '--json']);
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({
      status: 'rolled-back',
      after: { version: versions[0] },
    });
    expect((await admin.fx.pointers.read('words'))!.version).toBe(versions[0]);
  });

  it('exits 1 when verification fails', async () => {
    const { versions } = await admin.publish(2);
    const m = await admin.manifest(versions[0]!);
    const live = await admin.manifest(versions[1]!);
    const own = m.files.find((f) => !live.files.some((l) => l.sha256 === f.sha256))!;
    await admin.flipByte(own.sha256);
    const run = await admin.spawn(['snapshots', 'verify', 'words', versions[0]!]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`FAILED  words@${versions[0]}`);
  });
});
