/**
 * What a process costs, read from Linux /proc: resident memory (VmRSS of /proc/<pid>/status) and
 * CPU time (utime + stime of /proc/<pid>/stat), plus the machine's busy time (/proc/stat) so that
 * load from processes the bench did not start is visible too. Nothing here is timed.
 */
import { execFileSync } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

export interface ProcSample {
  readonly pid: number;
  readonly rssBytes: number;
  readonly cpuSeconds: number;
}

/** RSS and CPU time of `pid`, or undefined when it is gone. */
export async function readProc(pid: number): Promise<ProcSample | undefined> {
  try {
    const [status, stat] = await Promise.all([
      readFile(`/proc/${pid}/status`, 'utf8'),
      readFile(`/proc/${pid}/stat`, 'utf8'),
    ]);
    const rssKb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    // Fields after the ")" closing the command name; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return { pid, rssBytes: rssKb * 1024, cpuSeconds: ticks / CLOCK_TICKS };
  } catch {
    return undefined;
  }
}

interface ProcEntry {
  readonly pid: number;
  readonly ppid: number;
  readonly comm: string;
}

async function processTable(): Promise<ProcEntry[]> {
  const entries: ProcEntry[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = await readFile(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      entries.push({ pid: Number(name), ppid, comm });
    } catch {
      // exited while listing
    }
  }
  return entries;
}

/** Every process below `root` (not `root` itself), with its command name. */
export async function descendants(root: number): Promise<ProcEntry[]> {
  const table = await processTable();
  const children = new Map<number, ProcEntry[]>();
  for (const e of table) {
    const list = children.get(e.ppid);
    if (list) list.push(e);
    else children.set(e.ppid, [e]);
  }
  const out: ProcEntry[] = [];
  const stack = [root];
  while (stack.length > 0) {
    for (const child of children.get(stack.pop() as number) ?? []) {
      out.push(child);
      stack.push(child.pid);
    }
  }
  return out;
}

/** Pids whose command line contains `needle` (e.g. an externally started Kafka broker). */
export async function pidsWithCommandLine(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(needle)) pids.push(Number(name));
  }
  return pids;
}

/** Busy and total CPU seconds of the whole machine, all cores together, since boot. */
export async function machineCpu(): Promise<{
  busySeconds: number;
  irqSeconds: number;
  totalSeconds: number;
}> {
  const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const [, ...values] = line.trim().split(/\s+/);
  const ticks = values.map(Number);
  // user nice system idle iowait irq softirq steal guest guest_nice; guest time is inside user.
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  // Interrupt time is charged to no process: on loopback it is mostly TCP receive processing.
  const irq = (ticks[5] ?? 0) + (ticks[6] ?? 0);
  return {
    busySeconds: (total - idle) / CLOCK_TICKS,
    irqSeconds: irq / CLOCK_TICKS,
    totalSeconds: total / CLOCK_TICKS,
  };
}
