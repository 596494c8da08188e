/** Base class of every error this package throws on purpose. */
export class LocalAwsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** How to get the Java runtime DynamoDB Local needs; part of every {@link JavaNotFoundError}. */
export const JAVA_INSTALL_HINT =
  'DynamoDB Local needs Java 17 or newer. Install it, e.g. `apt-get install openjdk-17-jre-headless` ' +
  '(Debian/Ubuntu) or `brew install openjdk@17` (macOS), or set JAVA_HOME.';

/** No `java` executable was found (or the configured one does not exist). */
export class JavaNotFoundError extends LocalAwsError {
  constructor(readonly searched: readonly string[]) {
    super(
      `Java was not found (looked in: ${searched.join(', ') || 'nothing'}). ${JAVA_INSTALL_HINT}`,
    );
  }
}

/** An emulator did not come up: it exited, or it did not answer in time. */
export class EmulatorStartError extends LocalAwsError {
  constructor(
    readonly service: string,
    reason: string,
    /** The last lines the emulator printed, if any. */
    readonly output = '',
    options?: ErrorOptions,
  ) {
    super(
      `${service} did not start: ${reason}${output ? `\n--- ${service} output ---\n${output.trimEnd()}` : ''}`,
      options,
    );
  }
}

/** A wait (`waitForIdle`, `waitUntil`) did not see its condition before its deadline. */
export class WaitTimeoutError extends LocalAwsError {
  constructor(what: string, timeoutMs: number) {
    super(`timed out after ${timeoutMs} ms waiting for ${what}`);
  }
}

/** The runner was stopped, so what was awaited on it can no longer happen. */
export class RunnerStoppedError extends LocalAwsError {
  constructor(runner: string) {
    super(`${runner} was stopped`);
  }
}
