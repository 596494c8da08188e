import { readdirSync, readFileSync } from 'node:fs';

/** One process as `/proc` describes it (Linux). */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  pgid: number;
  /** `R`, `S`, `Z` (zombie: exited, not yet reaped), … */
  state: string;
  commandLine: string;
}

function readProcess(pid: number): ProcessInfo | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp …" — comm may contain spaces and parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const commandLine = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
    return {
      pid,
      state: fields[0] ?? '?',
      ppid: Number(fields[1]),
      pgid: Number(fields[2]),
      commandLine,
    };
  } catch {
    return undefined;
  }
}

/** Every process visible in `/proc` (empty where there is no `/proc`). */
export function listProcesses(): ProcessInfo[] {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return [];
  }
  return entries
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProcess(Number(name)))
    .filter((p): p is ProcessInfo => p !== undefined);
}

/**
 * True when `pid` is a running process. A zombie (exited, waiting to be reaped by its
 * parent or init) counts as gone.
 */
export function isProcessAlive(pid: number): boolean {
  const info = readProcess(pid);
  if (info) return info.state !== 'Z' && info.state !== 'X';
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Live (non-zombie) processes whose process group is `pgid`. */
export function processGroupMembers(pgid: number): ProcessInfo[] {
  return listProcesses().filter((p) => p.pgid === pgid && p.state !== 'Z' && p.state !== 'X');
}

/** Live (non-zombie) descendants of `rootPid` (children, grandchildren, …). */
export function descendantProcesses(rootPid: number): ProcessInfo[] {
  const all = listProcesses();
  const result: ProcessInfo[] = [];
  let frontier = new Set([rootPid]);
  while (frontier.size > 0) {
    const next = new Set<number>();
    for (const p of all) {
      if (frontier.has(p.ppid) && !result.includes(p)) {
        result.push(p);
        next.add(p.pid);
      }
    }
    frontier = next;
  }
  return result.filter((p) => p.state !== 'Z' && p.state !== 'X');
}
