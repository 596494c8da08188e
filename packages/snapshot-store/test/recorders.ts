import type { Logger } from '@aws-lambda-powertools/logger';

/** A log line the code under test wrote. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  extra: unknown[];
}

type LogSink = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

/**
 * A logger that records lines and lets a test await the first line matching a
 * message — a real completion signal for work done on timers (heartbeats).
 */
export function recordingLogger(): {
  logger: LogSink;
  lines: LogLine[];
  next(level: LogLine['level'], message: string): Promise<LogLine>;
} {
  const lines: LogLine[] = [];
  const waiters: { level: string; message: string; resolve: (l: LogLine) => void }[] = [];
  const sink =
    (level: LogLine['level']) =>
    (message: unknown, ...extra: unknown[]): void => {
      const line = { level, message: String(message), extra };
      lines.push(line);
      for (const w of waiters.splice(0)) {
        if (w.level === level && w.message === line.message) w.resolve(line);
        else waiters.push(w);
      }
    };
  const logger = {
    debug: sink('debug'),
    info: sink('info'),
    warn: sink('warn'),
    error: sink('error'),
  } as LogSink;
  return {
    logger,
    lines,
    next: (level, message) => new Promise((resolve) => waiters.push({ level, message, resolve })),
  };
}
