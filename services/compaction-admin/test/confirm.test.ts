/**
 * The "re-run with --yes" hint is the operator's command line, every option and value
 * quoted for a POSIX shell, with `--yes` added: pasted back, it does what was asked.
 */
import { describe, expect, it } from 'vitest';
import { retryWithYes, shellQuote } from '../src/confirm.js';
import { useAdminFixture } from './support/fixture.js';

const admin = await useAdminFixture();

/** Splits a POSIX shell command line into words (quotes and backslashes; no expansions). */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === ' ') {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + line[++i]!;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

const hintOf = (stderr: string): string => {
  const m = /^next: check the plan \(add --dry-run\), then re-run with --yes: (.*)$/m.exec(stderr);
  if (!m) throw new Error(`no --yes hint in:\n${stderr}`);
  return m[1]!;
};

describe('the --yes hint', () => {
  it('quotes words a shell would split or expand, and leaves plain ones alone', () => {
    expect(shellQuote('--lock-wait')).toBe('--lock-wait');
    expect(shellQuote('000000000041-20250301T101500Z-9f3c')).toBe(
      '000000000041-20250301T101500Z-9f3c',
    );
    expect(shellQuote('bad batch')).toBe("'bad batch'");
    expect(shellQuote("it's $HOME")).toBe("'it'\\''s $HOME'");
    expect(shellQuote('')).toBe("''");
    expect(retryWithYes(['prune', 'words', '--keep', '3'])).toBe(
      'compaction-admin prune words --keep 3 --yes',
    );
  });

  it('round-trips every option of a refused rollback, and the hint then does the rollback', async () => {
    const { versions } = await admin.publish(2);
    const stage = admin.fx.res.stage;
    const argv = [
      'rollback',
      'words',
      '--steps',
      '1',
      '--reason',
      `it's a "bad batch" ($RELEASE 42)`,
      '--full-verify',
      '--lock-wait',
      '120',
      '--stage',
      stage,
      '--actor',
      'ops@test',
    ];
    const refused = await admin.run(argv, { noConnection: true });
    expect(refused.code).toBe(1);
    const hint = hintOf(refused.stderr);
    expect(hint).toBe(
      `compaction-admin rollback words --steps 1 --reason 'it'\\''s a "bad batch" ($RELEASE 42)' ` +
        `--full-verify --lock-wait 120 --stage ${stage} --actor ops@test --yes`,
    );
    const words = shellWords(hint);
    expect(words).toEqual(['compaction-admin', ...argv, '--yes']);
    expect((await admin.fx.pointers.read('words'))!.version).toBe(versions[1]);

    const done = await admin.run([...words.slice(1), '--json'], { noConnection: true });
    expect(done.code).toBe(0);
    expect(JSON.parse(done.stdout)).toMatchObject({
      status: 'rolled-back',
      after: { version: versions[0] },
    });
    const [entry] = (await admin.fx.audit.list({ collection: 'words' })).filter(
      (e) => e.action === 'rollback',
    );
    expect(entry).toMatchObject({ reason: `it's a "bad batch" ($RELEASE 42)`, actor: 'ops@test' });
  });

  it('round-trips the options of a refused prune', async () => {
    await admin.publish(4);
    const argv = ['prune', 'words', '--keep', '1', '--reason', 'weekly space', '--lock-wait', '30'];
    const refused = await admin.run(argv);
    expect(refused.code).toBe(1);
    expect(shellWords(hintOf(refused.stderr))).toEqual([
      'compaction-admin',
      ...argv,
      ...admin.conn(),
      '--yes',
    ]);
  });
});
