/**
 * Progress of long downloads on stderr: a cli-progress bar on a terminal, and on
 * anything else (a pipe, a CI log) one line when it starts and one when it ends, so
 * logs do not fill with carriage returns.
 */
import { SingleBar } from 'cli-progress';
import type { AdminIO } from './context.js';
import { formatBytes, formatDuration } from './output.js';

/** Receives the progress of one transfer. */
export interface Progress {
  start(totalBytes: number, label: string): void;
  update(bytesDone: number): void;
  /** Ends the transfer; `ok` false when it was abandoned (a corrupt file, an error). */
  stop(ok: boolean): void;
}

/** Downloads smaller than this finish before a bar would be worth drawing. */
const BAR_THRESHOLD_BYTES = 8 * 1024 * 1024;

/**
 * A progress reporter on `io.stderr` (a bar when it is a terminal).
 *
 * @example
 * const progress = stderrProgress(io);
 * progress.start(total, 'words@000000000007-…');
 * await repository.download(manifest, dir, { onProgress: (p) => progress.update(p.bytesDownloaded) });
 * progress.stop(true);
 */
export function stderrProgress(
  io: Pick<AdminIO, 'stderr'>,
  now: () => number = Date.now,
): Progress {
  let bar: SingleBar | undefined;
  let started = 0;
  let total = 0;
  let label = '';
  return {
    start(totalBytes, what) {
      started = now();
      total = totalBytes;
      label = what;
      if (io.stderr.isTTY && totalBytes >= BAR_THRESHOLD_BYTES) {
        bar = new SingleBar({
          stream: io.stderr,
          format: `downloading ${what} [{bar}] {percentage}% {value}/{total} eta {eta_formatted}`,
          formatValue: (value, _options, type) =>
            type === 'value' || type === 'total' ? formatBytes(value) : String(value),
          hideCursor: true,
          barsize: 30,
          etaBuffer: 50,
        });
        bar.start(totalBytes, 0);
      } else {
        io.stderr.write(`downloading ${what}: ${formatBytes(totalBytes)}…\n`);
      }
    },
    update(bytesDone) {
      bar?.update(bytesDone);
    },
    stop(ok) {
      if (bar) {
        if (ok) bar.update(total);
        bar.stop();
        bar = undefined;
      }
      io.stderr.write(
        ok
          ? `downloaded and checked ${label}: ${formatBytes(total)} in ${formatDuration(now() - started)}\n`
          : `download of ${label} stopped after ${formatDuration(now() - started)}\n`,
      );
    },
  };
}
