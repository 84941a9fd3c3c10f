/**
 * The parts the agent's integration tests run against, all real: a Mosquitto broker, a PTY pair
 * whose firmware end THE TEST PLAYS, an mqtt.js client as the cloud, and the agent with the file
 * spool, in a temporary directory. `close()` takes it all down in reverse order.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  openPtyPair,
  startMosquitto,
  type MosquittoBroker,
  type MosquittoOptions,
  type PtyPair,
} from '@fleet/edge-testing';
import type { IClientOptions } from 'mqtt';
import type { RunningAgent } from '../../src/agent.js';
import { startTestAgent } from './agent-under-test.js';
import { CloudSide } from './cloud-side.js';
import { openTestSpool } from './spool.js';
import { TestFirmware } from './test-firmware.js';

export interface AgentRigOptions {
  /** Names the temporary directory. */
  readonly name: string;
  /** How far the played firmware's clock runs ahead of the true time. */
  readonly robotClockOffsetMs?: number;
  /** Broker options; gets the rig's directory (e.g. for persistence files). */
  readonly mosquitto?: (dir: string) => MosquittoOptions;
  readonly cloud?: Partial<IClientOptions>;
  /** Runs after the cloud connected and before the agent starts (e.g. to answer time sync). */
  readonly beforeAgent?: (cloud: CloudSide) => void;
}

export interface AgentRig {
  readonly dir: string;
  readonly broker: MosquittoBroker;
  readonly pty: PtyPair;
  readonly firmware: TestFirmware;
  readonly cloud: CloudSide;
  readonly agent: RunningAgent;
  close(): Promise<void>;
}

export async function openAgentRig(options: AgentRigOptions): Promise<AgentRig> {
  const dir = await mkdtemp(join(tmpdir(), `fleet-agent-${options.name}-`));
  const broker = await startMosquitto(options.mosquitto?.(dir) ?? {});
  const pty = await openPtyPair(join(dir, 'firmware'), join(dir, 'agent'));
  const firmware = await TestFirmware.open(pty.a, options.robotClockOffsetMs ?? 0);
  const cloud = await CloudSide.connect(broker.url, 'site-1', 'r-1', options.cloud ?? {});
  options.beforeAgent?.(cloud);
  const { agent } = await startTestAgent({
    serialPath: pty.b,
    brokerUrl: broker.url,
    spoolDir: join(dir, 'spool'),
    openSpool: openTestSpool,
  });
  return {
    dir,
    broker,
    pty,
    firmware,
    cloud,
    agent,
    async close() {
      await agent.stop();
      await cloud.close();
      await firmware.close();
      await pty.close();
      await broker.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
