import type { Logger } from '@aws-lambda-powertools/logger';

/** A structured log line written by the code under test. */
export interface LogLine {
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  attributes: Record<string, unknown>;
}

/** A logger that keeps every line (set `LOG=1` to also print them). */
export class RecordingLogger implements Pick<Logger, 'debug' | 'info' | 'warn' | 'error'> {
  readonly lines: LogLine[] = [];
  debug: Logger['debug'] = this.#sink('debug');
  info: Logger['info'] = this.#sink('info');
  warn: Logger['warn'] = this.#sink('warn');
  error: Logger['error'] = this.#sink('error');

  /** Lines with this message. */
  find(message: string): LogLine[] {
    return this.lines.filter((l) => l.message === message);
  }

  #sink(level: LogLine['level']) {
    return ((message: unknown, ...extra: unknown[]): void => {
      const attributes = Object.assign(
        {},
        ...extra.filter((e) => typeof e === 'object' && e !== null),
      ) as Record<string, unknown>;
      this.lines.push({ level, message: String(message), attributes });
      if (process.env['LOG'] === '1')
        console.log(level, String(message), JSON.stringify(attributes));
    }) as Logger['info'];
  }
}
