/**
 * Integration, real parts: commands through a real Mosquitto, from a real mqtt.js cloud client, to
 * the real agent, down a real PTY pair where THE TEST PLAYS THE FIRMWARE (it reads the command
 * frame and answers with ack frames, or stays silent). The robot's clock is 2 min behind the
 * agent's and the gateway's (the cloud client answering time sync) 5 s ahead.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openPtyPair, startMosquitto, type MosquittoBroker, type PtyPair } from '@fleet/edge-testing';
import { encodeMessage, type Command } from '@fleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAgent } from '../src/agent.js';
import { startTestAgent } from './support/agent-under-test.js';
import { CloudSide } from './support/cloud-side.js';
import { openTestSpool } from './support/spool.js';
import { TestFirmware } from './support/test-firmware.js';

const ROBOT_AHEAD_MS = -120_000;
const GATEWAY_AHEAD_MS = 5_000;
const COMMAND_TIMEOUT_MS = 1500;

let dir: string;
let broker: MosquittoBroker;
let pty: PtyPair;
let firmware: TestFirmware;
let cloud: CloudSide;
let agent: RunningAgent;
let sampling: ReturnType<typeof setInterval> | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-agent-commands-'));
  broker = await startMosquitto({ passwordFile: { 'r-1': 'robot-secret', cloud: 'cloud-secret' } });
  pty = await openPtyPair(join(dir, 'firmware'), join(dir, 'agent'));
  firmware = await TestFirmware.open(pty.a, ROBOT_AHEAD_MS);
  cloud = await CloudSide.connect(broker.url, 'site-1', 'r-1', {
    username: 'cloud',
    password: 'cloud-secret',
  });
  cloud.actAsTimeServer(GATEWAY_AHEAD_MS);
  ({ agent } = await startTestAgent({
    serialPath: pty.b,
    brokerUrl: broker.url,
    spoolDir: join(dir, 'spool'),
    openSpool: openTestSpool,
    // The username defaults to the robot id.
    config: {
      mqtt: { urls: [broker.url], password: 'robot-secret' },
      commands: { timeoutMs: COMMAND_TIMEOUT_MS },
    },
  }));
  // The firmware samples at 20 Hz, so the agent knows the robot's clock.
  let seq = 0;
  sampling = setInterval(() => void firmware.sendSample(1, seq++), 50);
  await cloud.waitFor('gateway clock sync', () => agent.stats().clock.gateway.answered >= 3);
});

afterAll(async () => {
  if (sampling !== undefined) clearInterval(sampling);
  await agent?.stop();
  await cloud?.close();
  await firmware?.close();
  await pty?.close();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

function command(commandId: string, overrides: Partial<Command> = {}): Command {
  const gatewayNow = Date.now() + GATEWAY_AHEAD_MS;
  return {
    kind: 'command',
    commandId,
    robotId: 'r-1',
    action: { type: 'go_to_zone', zoneId: 'kitchen' },
    issuedAt: gatewayNow,
    deadline: gatewayNow + 30_000,
    ...overrides,
  };
}

describe('commands round trip (real Mosquitto with passwords, real PTY with the test as firmware)', () => {
  it('forwards a command with its deadline on the robot clock; the firmware acks (accepted, completed) back to the cloud', async () => {
    const c = command('cmd-ok');
    await cloud.publishCommand(c);
    const frame = await firmware.waitForCommand('cmd-ok');
    expect(frame.action).toEqual({ type: 'go_to_zone', zoneId: 'kitchen' });
    // gateway deadline → agent clock (−5 s) → robot clock (−2 min)
    expect(Math.abs(frame.deadlineRobotTime - (c.deadline - GATEWAY_AHEAD_MS + ROBOT_AHEAD_MS))).toBeLessThan(
      20,
    );

    const acceptedAt = await firmware.sendAck('cmd-ok', 'accepted');
    const completedAt = await firmware.sendAck('cmd-ok', 'completed', 'arrived in kitchen');
    await cloud.waitFor(
      'two firmware acks',
      () => cloud.acks().filter((a) => a.commandId === 'cmd-ok').length >= 2,
    );
    const acks = cloud.acks().filter((a) => a.commandId === 'cmd-ok');
    expect(acks.map((a) => [a.outcome, a.source, a.detail])).toEqual([
      ['accepted', 'firmware', undefined],
      ['completed', 'firmware', 'arrived in kitchen'],
    ]);
    // Ack times are robot times corrected like samples: onto the gateway clock.
    expect(
      Math.abs((acks[0]?.robotTime ?? 0) - (acceptedAt - ROBOT_AHEAD_MS + GATEWAY_AHEAD_MS)),
    ).toBeLessThan(20);
    expect(
      Math.abs((acks[1]?.robotTime ?? 0) - (completedAt - ROBOT_AHEAD_MS + GATEWAY_AHEAD_MS)),
    ).toBeLessThan(20);
    await new Promise((done) => setTimeout(done, COMMAND_TIMEOUT_MS + 300));
    expect(cloud.acks().filter((a) => a.commandId === 'cmd-ok')).toHaveLength(2); // no timeout ack after an answer
  });

  it('when the firmware (the test) never answers, publishes its own timeout ack (source agent) after the timeout', async () => {
    const sentAt = Date.now();
    await cloud.publishCommand(command('cmd-silent'));
    await firmware.waitForCommand('cmd-silent');
    await cloud.waitFor(
      'the timeout ack',
      () => cloud.acks().some((a) => a.commandId === 'cmd-silent'),
      10_000,
    );
    const [ack] = cloud.acks().filter((a) => a.commandId === 'cmd-silent');
    expect(ack).toMatchObject({ outcome: 'timeout', source: 'agent', robotId: 'r-1' });
    const after = (ack?.robotTime ?? 0) - GATEWAY_AHEAD_MS - sentAt;
    expect(after).toBeGreaterThanOrEqual(COMMAND_TIMEOUT_MS - 5);
    expect(after).toBeLessThan(COMMAND_TIMEOUT_MS + 1000);
  });

  it('rejects (logs and counts) garbage and commands for another robot, and forwards nothing for them', async () => {
    const before = firmware.commands.length;
    await cloud.publishCommand(new Uint8Array([0xfb, 0x01, 0x11, 0x00]));
    await cloud.publishCommand(encodeMessage(command('cmd-other', { robotId: 'r-2' })));
    await cloud.waitFor('two rejections', () => {
      const r = agent.stats().commands.rejected;
      return r.undecodable + r.other_robot >= 2;
    });
    expect(agent.stats().commands.rejected).toMatchObject({ undecodable: 1, other_robot: 1 });
    await cloud.publishCommand(command('cmd-after'));
    await firmware.waitForCommand('cmd-after');
    expect(firmware.commands.slice(before).map((c) => c.commandId)).toEqual(['cmd-after']);
  });

  it('does not forward a command whose deadline already passed; acks timeout at once', async () => {
    const gatewayNow = Date.now() + GATEWAY_AHEAD_MS;
    await cloud.publishCommand(
      command('cmd-late', { issuedAt: gatewayNow - 60_000, deadline: gatewayNow - 1000 }),
    );
    await cloud.waitFor('the timeout ack', () => cloud.acks().some((a) => a.commandId === 'cmd-late'));
    expect(cloud.acks().find((a) => a.commandId === 'cmd-late')).toMatchObject({
      outcome: 'timeout',
      source: 'agent',
      detail: 'deadline passed before the command reached the robot',
    });
    expect(firmware.commands.some((c) => c.commandId === 'cmd-late')).toBe(false);
  });
});
