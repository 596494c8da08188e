import { spawn, type ChildProcess } from 'node:child_process';
import { processGroupMembers } from './process-tree.js';

/**
 * A child process that cannot outlive this Node process.
 *
 * Invariant (kept here, nowhere else): the child dies when its Node parent dies, for
 * ANY reason — normal exit, SIGINT/SIGTERM/SIGHUP, an uncaught error, or SIGKILL / a
 * crash where no JavaScript runs at all.
 *
 * How: the command is started through a tiny `sh` wrapper in its own process group
 * (`detached`). Its stdin is a pipe whose only writer is this Node process. The wrapper
 * forks a watcher that blocks on `read` from that pipe, then `exec`s the command, so the
 * command keeps the wrapper's pid and receives signals sent to it directly. When Node
 * goes away the kernel closes the pipe, `read` returns EOF and the watcher sends SIGTERM
 * (then SIGKILL after 5 s) to the command. On the paths where JavaScript still runs,
 * exit and signal hooks kill the whole group at once, without waiting for the watcher.
 */
const GUARD_SCRIPT = `
exec 3<&0 </dev/null
alive() {
  kill -0 $$ 2>/dev/null || return 1
  [ -r /proc/$$/stat ] || return 0
  read -r st < /proc/$$/stat 2>/dev/null || return 1
  case "$st" in *") Z "*) return 1 ;; esac
}
(
  trap '' INT TERM HUP
  exec >/dev/null 2>&1
  while read -r _ <&3; do :; done
  kill -TERM $$ 2>/dev/null
  i=0
  while alive && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
  alive && kill -KILL $$ 2>/dev/null
) &
exec 3<&-
exec "$@"
`;

const OUTPUT_LIMIT = 64 * 1024;

/** How a guarded process ended. */
export interface ProcessExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** What to run under a {@link GuardedProcess}. */
export interface GuardedProcessOptions {
  /** Used in messages. */
  name: string;
  command: string;
  args: readonly string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** How long `stop()` waits after SIGTERM before it sends SIGKILL. Default 5000 ms. */
  stopTimeoutMs?: number;
}

const live = new Set<GuardedProcess>();
const HOOKED_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
let hooksInstalled = false;

function killAllNow(): void {
  for (const child of live) child.killGroupNow('SIGKILL');
}

function onProcessExit(): void {
  killAllNow();
}

function onSignal(signal: NodeJS.Signals): void {
  killAllNow();
  // We changed the default action by listening; restore it when nobody else decides.
  if (process.listenerCount(signal) === 1) {
    uninstallHooks();
    process.kill(process.pid, signal);
  }
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  // 'exit' also covers uncaught errors: Node prints them and exits, firing 'exit'.
  process.on('exit', onProcessExit);
  for (const signal of HOOKED_SIGNALS) process.on(signal, onSignal);
}

function uninstallHooks(): void {
  if (!hooksInstalled) return;
  hooksInstalled = false;
  process.off('exit', onProcessExit);
  for (const signal of HOOKED_SIGNALS) process.off(signal, onSignal);
}

function unref(stream: unknown): void {
  (stream as { unref?: () => void } | null)?.unref?.();
}

/**
 * A child process bound to this Node process's lifetime (see the invariant above).
 * It does not keep Node's event loop alive: a script that forgets `stop()` still exits,
 * and the child goes with it.
 *
 * @example
 * const child = GuardedProcess.spawn({ name: 'sleeper', command: 'sleep', args: ['60'] });
 * await child.stop();
 */
export class GuardedProcess {
  readonly name: string;
  /** The child's pid; after the wrapper's `exec`, the command's own pid (and its process group id). */
  readonly pid: number;
  /** Settles when the child has exited, its output has been read and its guard is gone. */
  readonly exited: Promise<ProcessExit>;
  private readonly child: ChildProcess;
  private readonly stopTimeoutMs: number;
  private exit: ProcessExit | undefined;
  private buffered = '';

  private constructor(child: ChildProcess, options: GuardedProcessOptions) {
    if (child.pid === undefined) throw new Error(`could not spawn ${options.name}`);
    this.child = child;
    this.pid = child.pid;
    this.name = options.name;
    this.stopTimeoutMs = options.stopTimeoutMs ?? 5000;
    this.exited = new Promise<ProcessExit>((resolve) => {
      child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        live.delete(this);
        if (live.size === 0) uninstallHooks();
        // The watcher may still be there; the group id cannot be reused while it is.
        this.killGroupNow('SIGKILL');
      });
      // 'close' follows 'exit' once stdout/stderr are drained, so output() is complete.
      child.once('close', (code, signal) => resolve(this.exit ?? { code, signal }));
    }).then(async (exit) => {
      await this.groupGone();
      return exit;
    });
    const collect = (chunk: Buffer): void => {
      this.buffered = (this.buffered + chunk.toString('utf8')).slice(-OUTPUT_LIMIT);
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    // A failed write to the pipe (the wrapper already gone) is not an error worth crashing for.
    child.stdin?.on('error', () => undefined);
    child.unref();
    unref(child.stdin);
    unref(child.stdout);
    unref(child.stderr);
    live.add(this);
    installHooks();
  }

  /** Starts `command args…` under the guard. */
  static spawn(options: GuardedProcessOptions): GuardedProcess {
    const child = spawn(
      '/bin/sh',
      ['-c', GUARD_SCRIPT, 'local-aws-guard', options.command, ...options.args],
      {
        cwd: options.cwd,
        env: options.env ?? process.env,
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    return new GuardedProcess(child, options);
  }

  /** Exit status once the child has exited, else undefined. */
  get exitStatus(): ProcessExit | undefined {
    return this.exit;
  }

  /** The last ~64 KB the child wrote to stdout and stderr. */
  output(): string {
    return this.buffered;
  }

  /** Sends `signal` to the child's whole process group now, synchronously; never throws. */
  killGroupNow(signal: NodeJS.Signals): void {
    try {
      process.kill(-this.pid, signal);
    } catch {
      // ESRCH: the group is already gone.
    }
  }

  /**
   * Stops the child: closes the guard pipe and sends SIGTERM, then SIGKILL to the whole
   * group if it has not exited after `stopTimeoutMs`. Idempotent.
   */
  async stop(): Promise<ProcessExit> {
    if (this.exit) return this.exited;
    this.child.stdin?.destroy();
    try {
      process.kill(this.pid, 'SIGTERM');
    } catch {
      // already gone
    }
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.stopTimeoutMs);
    });
    const first = await Promise.race([this.exited, timedOut]);
    clearTimeout(timer);
    if (first === 'timeout') this.killGroupNow('SIGKILL');
    return this.exited;
  }

  /**
   * The watcher is not our child, so nothing tells us when the SIGKILL sent to the group
   * on exit has taken effect; it takes microseconds, so look (Linux `/proc`) for up to 2 s.
   */
  private async groupGone(): Promise<void> {
    const deadline = Date.now() + 2000;
    while (processGroupMembers(this.pid).length > 0 && Date.now() < deadline) {
      this.killGroupNow('SIGKILL');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }
}
