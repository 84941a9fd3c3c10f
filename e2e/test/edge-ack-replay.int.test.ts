/**
 * End-to-end, all real: firmware-sim and a fleet-agent process through their CLIs, over a PTY pair
 * from socat, publishing to an independent Mosquitto broker; a real MQTT client plays the cloud
 * (it sends the command and answers the agent's time-sync requests as the gateway would).
 *
 * A command ack the firmware sends while the agent is dead is not lost: the agent is killed with
 * SIGKILL right after it forwarded a command to the firmware (which answers 4 s later, to a line
 * nobody reads), and started again 4 s after that. The restarted agent's resume asks the firmware
 * for what came after the last frame it had spooled; the firmware's replay ring holds acks in
 * their place between samples and sends the ack again; the agent publishes it. What arrives is the
 * firmware's own ack (source firmware, with the firmware's outcome), and no timeout ack of the
 * agent: the process that was waiting for the answer died with its timer.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { openPtyPair, startMosquitto, type MosquittoBroker, type PtyPair } from '@fleet/edge-testing';
import { decodePayload, encodeMessage, mqttTopic, parseMqttTopic, type CommandAck } from '@fleet/protocol';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const ROBOT = 'robot-1';
const SITE = 'site-e2e';
const ACK_LATENCY_MS = 4000;

let dir: string;
let broker: MosquittoBroker;
let pty: PtyPair;
let sim: ChildProcess | undefined;
let agent: ChildProcess | undefined;
let agentLog = '';
let cloud: mqtt.MqttClient;
const acks: CommandAck[] = [];
let samples = 0;

function cli(script: string, args: readonly string[], onOutput?: (text: string) => void): ChildProcess {
  const child = spawn(process.execPath, ['--conditions=@fleet/source', '--import', 'tsx', script, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.on('data', (c: Buffer) => onOutput?.(c.toString()));
  child.stderr?.on('data', (c: Buffer) => onOutput?.(c.toString()));
  return child;
}

async function startAgent(): Promise<void> {
  const config = join(dir, 'agent.json');
  await writeFile(
    config,
    JSON.stringify({
      robotId: ROBOT,
      siteId: SITE,
      serial: { path: pty.b },
      mqtt: { urls: [broker.url] },
      batch: { maxSamples: 50, maxDelayMs: 200 },
      spool: { dir: join(dir, 'spool'), fsync: 'always' },
      // Shorter than the firmware's latency: an agent that lived would ack `timeout` first.
      commands: { timeoutMs: 3000 },
      reconnect: { initialMs: 200, maxMs: 1000, jitter: 1 },
    }),
  );
  agentLog = '';
  agent = cli('apps/agent/src/cli.ts', ['run', '--config', config], (text) => {
    agentLog = (agentLog + text).slice(-200_000);
  });
}

async function until(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(25);
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-e2e-ack-replay-'));
  broker = await startMosquitto({ allowAnonymous: true });
  pty = await openPtyPair(join(dir, 'fw'), join(dir, 'agent'));
  cloud = await mqtt.connectAsync(broker.url, { clientId: 'e2e-cloud', reconnectPeriod: 250 });
  await cloud.subscribeAsync(`fleet/v1/${SITE}/${ROBOT}/#`, { qos: 1 });
  cloud.on('message', (topic, payload) => {
    const { channel } = parseMqttTopic(topic);
    if (channel === 'cmd' || channel === 'time/resp') return;
    const decoded = decodePayload(payload);
    if (decoded.type === 'telemetry_batch') samples += decoded.batch.samples.length;
    else if (decoded.message.kind === 'command_ack') acks.push(decoded.message);
    else if (decoded.message.kind === 'time_sync_request') {
      const now = Date.now();
      const response = encodeMessage({
        kind: 'time_sync_response',
        robotId: ROBOT,
        requestId: decoded.message.requestId,
        agentSendTime: decoded.message.agentSendTime,
        gatewayReceiveTime: now,
        gatewaySendTime: now,
      });
      cloud.publish(mqttTopic('time/resp', SITE, ROBOT), Buffer.from(response), { qos: 0 });
    }
  });
  await startAgent(); // before the firmware: its boot event is the first frame on the line
  await sleep(2000);
}, 60_000);

afterAll(async () => {
  sim?.kill('SIGKILL');
  agent?.kill('SIGKILL');
  await cloud?.endAsync(true);
  await pty?.close();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('robot edge: a command ack sent while the agent is dead', () => {
  it('reaches the broker after the agent restarts: the firmware replays it on resume', async () => {
    sim = cli('firmware-sim/src/cli.ts', [
      '--robots',
      '1',
      '--device',
      pty.a,
      '--speed',
      '1',
      '--seed',
      '11',
      '--ack-median-ms',
      String(ACK_LATENCY_MS),
      '--ack-p99-ms',
      String(ACK_LATENCY_MS + 1),
    ]);
    await until(() => samples > 20, 30_000, 'samples from the agent');

    const commandId = 'cmd-while-dead';
    const now = Date.now();
    await cloud.publishAsync(
      mqttTopic('cmd', SITE, ROBOT),
      Buffer.from(
        encodeMessage({
          kind: 'command',
          commandId,
          robotId: ROBOT,
          action: { type: 'stop' },
          issuedAt: now,
          deadline: now + 60_000,
        }),
      ),
      { qos: 1 },
    );
    await until(() => agentLog.includes('"command_forwarded"'), 10_000, 'the agent to forward the command');
    agent?.kill('SIGKILL');
    const killedAt = Date.now();
    await new Promise((done) => agent?.once('exit', done));

    // The firmware answers ~4 s after it got the command, to a line nobody holds open.
    await sleep(ACK_LATENCY_MS + 2000 - (Date.now() - killedAt));
    expect(acks.filter((a) => a.commandId === commandId)).toEqual([]);
    await startAgent();

    await until(
      () => acks.some((a) => a.commandId === commandId && a.outcome === 'completed'),
      30_000,
      `the firmware's acks of ${commandId}`,
    ).catch((error: Error) => {
      throw new Error(
        `${error.message}; acks: ${JSON.stringify(acks)}; agent log tail: ${agentLog.slice(-3000)}`,
      );
    });
    await sleep(1000); // anything else the agent might send about it
    const ofCommand = acks.filter((a) => a.commandId === commandId);
    // `stop`: accepted, then completed at once; both from the firmware, none from the agent.
    expect(new Set(ofCommand.map((a) => `${a.source}:${a.outcome}`))).toEqual(
      new Set(['firmware:accepted', 'firmware:completed']),
    );
    expect(agentLog).toMatch(/"serial_resume"/);
  }, 90_000);
});
