/**
 * Integration, real parts: the agent against a Mosquitto TLS listener, with certificates made by
 * the openssl CLI for this run (a CA, a server certificate it signs for localhost, and an unrelated
 * CA), a real PTY pair where THE TEST PLAYS THE FIRMWARE, and a real mqtt.js client as the cloud
 * (on the broker's plain listener). Per-robot passwords are on for both listeners.
 *
 * - with the right CA and the robot's password: connects, verifies the broker, publishes samples;
 * - with another CA: refused before any MQTT is spoken, with an error that says the certificate is
 *   not trusted and what to set; nothing is published;
 * - over TLS, a wrong password is refused as credentials (MQTT_AUTH), not as a TLS failure;
 * - doctor says the same, with its advice.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  freePort,
  openPtyPair,
  startMosquitto,
  type MosquittoBroker,
  type PtyPair,
} from '@fleet/edge-testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAgent } from '../src/agent.js';
import type { AgentDiagnostic } from '../src/diagnostics.js';
import { productionDeps } from '../src/deps.js';
import { runDoctor } from '../src/doctor/index.js';
import { startTestAgent } from './support/agent-under-test.js';
import { CloudSide } from './support/cloud-side.js';
import { openTestSpool } from './support/spool.js';
import { TestFirmware } from './support/test-firmware.js';
import { makeTestCertificates, mosquittoTlsListener, type TestCertificates } from './support/tls-certs.js';

let dir: string;
let certs: TestCertificates;
let broker: MosquittoBroker;
let tlsUrl: string;
let pty: PtyPair;
let firmware: TestFirmware;
let cloud: CloudSide;
let sampling: ReturnType<typeof setInterval> | undefined;
let seq = 0;
let agent: RunningAgent | undefined;
let run = 0;
const mqttEvents: AgentDiagnostic[] = [];
const onMqtt = (message: unknown) => void mqttEvents.push(message as AgentDiagnostic);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-agent-tls-'));
  certs = await makeTestCertificates(dir);
  const tlsPort = await freePort();
  broker = await startMosquitto({
    passwordFile: { 'r-1': 'robot-secret', cloud: 'cloud-secret' },
    configExtra: mosquittoTlsListener(tlsPort, certs),
  });
  tlsUrl = `mqtts://localhost:${tlsPort}`;
  pty = await openPtyPair(join(dir, 'firmware'), join(dir, 'agent'));
  firmware = await TestFirmware.open(pty.a, 0);
  cloud = await CloudSide.connect(broker.url, 'site-1', 'r-1', {
    username: 'cloud',
    password: 'cloud-secret',
  });
  sampling = setInterval(() => void firmware.sendSample(7, seq++), 50);
  diagnosticsChannel.subscribe('fleet:agent:mqtt', onMqtt);
}, 60_000);

afterEach(async () => {
  await agent?.stop();
  agent = undefined;
  mqttEvents.length = 0;
});

afterAll(async () => {
  diagnosticsChannel.unsubscribe('fleet:agent:mqtt', onMqtt);
  if (sampling !== undefined) clearInterval(sampling);
  await cloud?.close();
  await firmware?.close();
  await pty?.close();
  await broker?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function startAgent(mqtt: Record<string, unknown>): Promise<RunningAgent> {
  run++;
  const started = await startTestAgent({
    serialPath: pty.b,
    brokerUrl: tlsUrl,
    spoolDir: join(dir, `spool-${run}`),
    openSpool: openTestSpool,
    config: { mqtt: { urls: [tlsUrl], keepaliveSeconds: 5, connectTimeoutMs: 3000, ...mqtt } },
  });
  agent = started.agent;
  return started.agent;
}

const errors = () => mqttEvents.filter((e) => e.event === 'mqtt_error').map((e) => String(e.fields.error));

describe('agent over TLS (real Mosquitto TLS listener, certificates made by openssl for this run)', () => {
  it('verifies the broker with the configured CA, authenticates with the robot password, and publishes', async () => {
    const first = seq;
    const a = await startAgent({ tls: { caFile: certs.caFile }, password: 'robot-secret' });
    await cloud.waitFor(
      'samples over TLS',
      () => cloud.samples().some((s) => s.bootId === 7 && s.seq > first + 10),
      20_000,
    );
    expect(a.stats().mqtt).toMatchObject({ connected: true });
    expect(errors()).toEqual([]);
    expect(mqttEvents.find((e) => e.event === 'mqtt_connected')?.fields.url).toBe(tlsUrl);
  });

  it('refuses a broker whose certificate another CA signed, saying so, and publishes nothing', async () => {
    const received = cloud.received.length;
    const a = await startAgent({ tls: { caFile: certs.wrongCaFile }, password: 'robot-secret' });
    await cloud.waitFor(
      'a refused attempt, and the next one scheduled',
      () => errors().length >= 1 && mqttEvents.some((e) => e.event === 'mqtt_reconnect_scheduled'),
      15_000,
    );
    const [error] = errors();
    expect(error).toMatch(
      new RegExp(
        `^MQTT ${tlsUrl}: TLS: the broker's certificate is not trusted \\((UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE): .*\\); mqtt\\.tls\\.caFile must name the CA that signed it`,
      ),
    );
    expect(mqttEvents.some((e) => e.event === 'mqtt_connected')).toBe(false);
    expect(a.stats().mqtt).toMatchObject({ connected: false });
    expect(cloud.received.slice(received).filter((r) => r.channel !== 'presence')).toEqual([]);
  });

  it('over TLS, refuses a wrong password as credentials, not as a TLS failure', async () => {
    await startAgent({ tls: { caFile: certs.caFile }, password: 'not-the-secret' });
    await cloud.waitFor('a refused attempt', () => errors().length >= 1, 15_000);
    expect(errors()[0]).toMatch(/^broker mqtts:\/\/localhost:\d+ refused the credentials of r-1/);
    expect(mqttEvents.find((e) => e.event === 'mqtt_error')?.fields.code).toBe('AGENT_MQTT_AUTH');
  });

  it('doctor: the right CA passes the broker check; another CA fails it with TLS advice', async () => {
    const doctor = async (caFile: string) => {
      const config = join(dir, `doctor-${caFile === certs.caFile ? 'good' : 'wrong'}.json`);
      await writeFile(
        config,
        JSON.stringify({
          robotId: 'r-1',
          siteId: 'site-1',
          serial: { path: join(dir, 'no-serial-here') },
          mqtt: { urls: [tlsUrl], password: 'robot-secret', tls: { caFile }, connectTimeoutMs: 3000 },
          spool: { dir: join(dir, 'doctor-spool') },
        }),
      );
      return runDoctor({ configFile: config, env: {}, deps: productionDeps(), serialWaitMs: 200 });
    };
    const good = await doctor(certs.caFile);
    expect(good.checks.find((c) => c.name.startsWith('broker'))).toMatchObject({ status: 'ok' });
    const wrong = await doctor(certs.wrongCaFile);
    const broker = wrong.checks.find((c) => c.name.startsWith('broker'));
    expect(broker?.status).toBe('fail');
    expect(broker?.summary).toMatch(/the broker's certificate is not trusted/);
    expect(broker?.advice?.join('\n')).toMatch(
      /set mqtt\.tls\.caFile to the CA that signed the broker's certificate/,
    );
    // The CA file really is the one a robot builder would point at.
    expect(await readFile(certs.caFile, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----/);
  });
});
