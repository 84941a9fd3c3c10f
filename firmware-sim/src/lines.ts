/**
 * The serial lines of a run: one per robot, either real devices (`--device`) or PTY pairs that the
 * simulator creates with socat (`--pty-dir`). For a PTY pair the firmware opens
 * `DIR/robot-<i>.fw` and the robot's agent opens `DIR/robot-<i>.agent` (i = 1..N);
 * `DIR/robots.json` lists robot ids and devices for scripts.
 */
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { openPtyPair, type PtyPair } from '@fleet/pty';
import type { SimConfig } from './config.js';
import { SerialLink, type WhenFull } from './serial-link.js';

export interface Lines {
  readonly links: readonly SerialLink[];
  /** The device each robot's agent opens. */
  readonly agentDevices: readonly string[];
  close(): Promise<void>;
}

/** PTY pairs are created this many at a time (each is a socat process). */
const PTY_CONCURRENCY = 16;

export async function openLines(config: SimConfig): Promise<Lines> {
  const whenFull: WhenFull = config.speed === 'max' ? 'wait' : 'drop';
  const t = config.transport;
  if (t.kind === 'devices') {
    const links = await Promise.all(
      t.paths.map((p) => SerialLink.open(p, { baudRate: config.baudRate, whenFull })),
    );
    return { links, agentDevices: t.paths, close: () => closeAll(links, []) };
  }
  const dir = resolve(t.dir);
  await mkdir(dir, { recursive: true });
  const pairs: PtyPair[] = [];
  const links: SerialLink[] = [];
  try {
    for (let from = 0; from < config.robotIds.length; from += PTY_CONCURRENCY) {
      const batch = config.robotIds.slice(from, from + PTY_CONCURRENCY).map(async (_, k) => {
        const i = from + k + 1;
        const fw = join(dir, `robot-${i}.fw`);
        const agent = join(dir, `robot-${i}.agent`);
        // A stale link from an earlier run would look ready before socat made the new one.
        await Promise.all([rm(fw, { force: true }), rm(agent, { force: true })]);
        return openPtyPair(fw, agent);
      });
      pairs.push(...(await Promise.all(batch)));
    }
    for (const pair of pairs)
      links.push(await SerialLink.open(pair.a, { baudRate: config.baudRate, whenFull }));
  } catch (e) {
    await closeAll(links, pairs);
    throw e;
  }
  const agentDevices = pairs.map((p) => p.b);
  const manifest = config.robotIds.map((robotId, i) => ({
    index: i + 1,
    robotId,
    agentDevice: agentDevices[i],
    firmwareDevice: pairs[i]?.a,
  }));
  await writeFile(join(dir, 'robots.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return { links, agentDevices, close: () => closeAll(links, pairs) };
}

async function closeAll(links: readonly SerialLink[], pairs: readonly PtyPair[]): Promise<void> {
  await Promise.all(links.map((l) => l.close()));
  await Promise.all(pairs.map((p) => p.close()));
}
