/**
 * Doctor, spool: the directory exists (or can be made) and is writable with fsync, the file system
 * has room for `spool.maxBytes`, and how much the spool holds now. With a `stats` function (the
 * spool opened while the agent is stopped) it also reports the backlog per class.
 */
import { mkdir, open, readdir, stat, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { AgentConfig } from '../config.js';
import { errorMessage } from '../errors.js';
import type { SpoolStats } from '../spool/spool.js';
import type { CheckResult } from './report.js';

export interface SpoolCheckOptions {
  readonly config: AgentConfig;
  /** Opens the spool, reads its stats and closes it; omitted when the spool must not be opened. */
  readonly stats?: () => Promise<SpoolStats>;
}

export async function checkSpool(options: SpoolCheckOptions): Promise<CheckResult> {
  const { dir, maxBytes } = options.config.spool;
  const name = 'spool';
  try {
    await mkdir(dir, { recursive: true });
    // node:crypto only here, on the doctor's path: `run` never loads it (bench:agent, RSS).
    const { randomBytes } = await import('node:crypto');
    const probe = join(dir, `.doctor-${randomBytes(4).toString('hex')}`);
    const handle = await open(probe, 'wx');
    try {
      await handle.write(new Uint8Array(4096));
      await handle.sync();
    } finally {
      await handle.close();
      await unlink(probe).catch(() => undefined);
    }
  } catch (e) {
    return {
      name,
      status: 'fail',
      summary: `${dir} is not writable: ${errorMessage(e)}`,
      advice: [
        "set spool.dir (FLEET_AGENT_SPOOL_DIR) to a directory on persistent storage that the agent's user owns",
        `e.g. sudo install -d -o <agent user> ${dir}`,
      ],
    };
  }
  const used = await sizeOf(dir);
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  const details = [
    `${mib(used)} used of spool.maxBytes ${mib(maxBytes)}; ${mib(free)} free on the file system`,
  ];
  let status: CheckResult['status'] = 'ok';
  const advice: string[] = [];
  if (free < maxBytes - used) {
    status = 'warn';
    advice.push(
      `the file system has less free space than the spool may grow to: lower spool.maxBytes or free ${mib(maxBytes - used - free)}`,
    );
  }
  if (options.stats !== undefined) {
    try {
      const s = await options.stats();
      details.push(
        `backlog: ${s.records.telemetry} telemetry and ${s.records.priority} priority record(s) not yet acknowledged by the broker; ${s.droppedTelemetry} telemetry dropped when full so far`,
      );
      if (s.bytes > 0.9 * s.maxBytes) {
        status = 'warn';
        advice.push(
          'the spool is over 90% full: the agent has not reached the broker for a while; oldest telemetry is dropped when it is full',
        );
      }
    } catch (e) {
      status = 'warn';
      details.push(`cannot open the spool to read its backlog: ${errorMessage(e)}`);
      advice.push('if the agent is running it holds the spool; stop it to see the backlog');
    }
  }
  return { name, status, summary: `${dir} is writable`, details, ...(advice.length > 0 ? { advice } : {}) };
}

async function sizeOf(dir: string): Promise<number> {
  let total = 0;
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += await sizeOf(path);
    else if (entry.isFile()) total += (await stat(path)).size;
  }
  return total;
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}
