import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig, parseConfig, redactConfig } from '../src/config.js';
import { isAgentError } from '../src/errors.js';
import { RESUME_DEFAULTS } from '../src/serial/resume.js';

const minimal = {
  robotId: 'r-17',
  siteId: 'site-3',
  serial: { path: '/dev/ttyS1' },
  mqtt: { urls: ['mqtts://broker.example:8883'] },
};

function problems(document: unknown, env: Record<string, string> = {}): string {
  try {
    parseConfig(document, env, '/etc/fleet-agent');
  } catch (e) {
    if (isAgentError(e, 'AGENT_CONFIG_INVALID')) return e.message;
    throw e;
  }
  throw new Error('expected the configuration to be rejected');
}

describe('agent configuration', () => {
  it('fills every default, makes the username the robot id, and freezes the result', () => {
    const c = parseConfig(minimal, {}, '/etc/fleet-agent');
    expect(c.serial.baudRate).toBe(115_200);
    expect(c.mqtt.username).toBe('r-17');
    expect(c.mqtt.clientId).toBe('fleet-agent-r-17');
    expect(c.mqtt.protocolVersion).toBe(4);
    expect(c.batch).toEqual({ maxSamples: 500, maxDelayMs: 1000 });
    expect(c.spool).toMatchObject({ dir: '/var/lib/fleet-agent/spool', fsync: 'interval' });
    expect(c.reconnect).toEqual({ initialMs: 1000, maxMs: 60_000, jitter: 1 });
    expect(c.commands.timeoutMs).toBe(10_000);
    expect(Object.isFrozen(c)).toBe(true);
    expect(Object.isFrozen(c.mqtt.urls)).toBe(true);
    expect(Object.isFrozen(c.mqtt.tls)).toBe(true);
  });

  it("serial.resume: the catch-up tunables default to the gate's, and come from the file or FLEET_AGENT_SERIAL_RESUME_*", () => {
    expect(parseConfig(minimal, {}, '/etc/fleet-agent').serial.resume).toEqual(RESUME_DEFAULTS);
    const c = parseConfig(
      { ...minimal, serial: { path: '/dev/ttyS1', resume: { holdMs: 250, maxHeld: 4096 } } },
      {
        FLEET_AGENT_SERIAL_RESUME_HOLD_MS: '300',
        FLEET_AGENT_SERIAL_RESUME_MAX_QUIET_MS: '2000',
        FLEET_AGENT_SERIAL_RESUME_LATE_TOLERANCE_MS: '50',
        FLEET_AGENT_SERIAL_RESUME_MAX_CATCH_UP_MS: '10000',
      },
      '/etc/fleet-agent',
    );
    expect(c.serial.resume).toEqual({
      holdMs: 300,
      maxQuietMs: 2000,
      lateToleranceMs: 50,
      maxCatchUpMs: 10_000,
      maxHeld: 4096,
    });
    expect(problems(minimal, { FLEET_AGENT_SERIAL_RESUME_HOLD_MS: '9000' })).toMatch(
      /serial\.resume\.maxQuietMs: maxQuietMs must be >= holdMs/,
    );
    expect(problems({ ...minimal, serial: { path: '/dev/ttyS1', resume: { holdMs: 5 } } })).toMatch(
      /serial\.resume\.holdMs/,
    );
    expect(problems({ ...minimal, serial: { path: '/dev/ttyS1', resume: { hold: 5 } } })).toMatch(
      /serial\.resume.*hold/,
    );
  });

  it('resolves relative paths against the directory of the configuration file', () => {
    const c = parseConfig(
      { ...minimal, spool: { dir: 'spool' }, mqtt: { ...minimal.mqtt, tls: { caFile: 'ca.pem' } } },
      {},
      '/etc/fleet-agent',
    );
    expect(c.spool.dir).toBe('/etc/fleet-agent/spool');
    expect(c.mqtt.tls.caFile).toBe('/etc/fleet-agent/ca.pem');
  });

  it('applies FLEET_AGENT_* overrides over the file, converting numbers and lists', () => {
    const c = parseConfig(
      minimal,
      {
        FLEET_AGENT_SERIAL_BAUD: '9600',
        FLEET_AGENT_MQTT_URL: 'mqtt://a:1883, mqtt://b:1883',
        FLEET_AGENT_MQTT_USERNAME: 'robot-user',
        FLEET_AGENT_RECONNECT_JITTER: '0.5',
        FLEET_AGENT_SPOOL_FSYNC: 'always',
        UNRELATED: 'x',
      },
      '/etc/fleet-agent',
    );
    expect(c.serial.baudRate).toBe(9600);
    expect(c.mqtt.urls).toEqual(['mqtt://a:1883', 'mqtt://b:1883']);
    expect(c.mqtt.username).toBe('robot-user');
    expect(c.reconnect.jitter).toBe(0.5);
    expect(c.spool.fsync).toBe('always');
  });

  it('names the field, and the variable it came from, in every error', () => {
    expect(problems({ ...minimal, robotId: 'r/17' })).toMatch(/robotId: robot id must match/);
    expect(problems(minimal, { FLEET_AGENT_SERIAL_BAUD: 'fast' })).toMatch(
      /serial\.baudRate \(from FLEET_AGENT_SERIAL_BAUD\): .*expected number/i,
    );
    expect(problems({ ...minimal, mqtt: { urls: ['http://broker'] } })).toMatch(
      /mqtt\.urls\.0: must be an mqtt:\/\/ or mqtts:\/\/ URL/,
    );
    expect(problems(minimal, { FLEET_AGENT_SERIAL_BUAD: '9600' })).toMatch(
      /FLEET_AGENT_SERIAL_BUAD: unknown variable \(did you mean FLEET_AGENT_SERIAL_BAUD\?\)/,
    );
    expect(problems({ ...minimal, serail: {} })).toMatch(/\(configuration\): Unrecognized key.*serail/);
    expect(problems({ ...minimal, batch: { maxSamples: 5000 } })).toMatch(/batch\.maxSamples: .*4096/);
    expect(problems({ ...minimal, reconnect: { initialMs: 5000, maxMs: 1000 } })).toMatch(
      /reconnect\.maxMs: maxMs must be >= initialMs/,
    );
    expect(problems({ ...minimal, spool: { fsync: 'sometimes' } })).toMatch(/spool\.fsync/);
  });

  it('reports every problem at once, not only the first', () => {
    const message = problems({ robotId: 'r-1', serial: { path: '' }, mqtt: { urls: [] } });
    expect(message).toMatch(/siteId/);
    expect(message).toMatch(/serial\.path/);
    expect(message).toMatch(/mqtt\.urls/);
  });

  it('refuses contradictory settings: password and passwordFile, a cert without key, TLS files without mqtts', () => {
    expect(problems({ ...minimal, mqtt: { ...minimal.mqtt, password: 'a', passwordFile: 'p' } })).toMatch(
      /mqtt\.passwordFile: set either mqtt\.password or mqtt\.passwordFile/,
    );
    expect(problems({ ...minimal, mqtt: { ...minimal.mqtt, tls: { certFile: 'c.pem' } } })).toMatch(
      /mqtt\.tls\.keyFile: a client certificate needs both/,
    );
    expect(problems({ ...minimal, mqtt: { urls: ['mqtt://b:1883'], tls: { caFile: 'ca.pem' } } })).toMatch(
      /mqtt\.tls: TLS files are set but no mqtt\.urls entry is mqtts/,
    );
  });

  it('redacts the password for logging', () => {
    const c = parseConfig({ ...minimal, mqtt: { ...minimal.mqtt, password: 'hunter2' } }, {}, '/');
    expect(JSON.stringify(redactConfig(c))).not.toContain('hunter2');
  });
});

describe('loadConfig (files)', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fleet-agent-config-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads the file and the password file named in it', async () => {
    await writeFile(join(dir, 'password'), 's3cret\n');
    await writeFile(
      join(dir, 'agent.json'),
      JSON.stringify({ ...minimal, mqtt: { ...minimal.mqtt, passwordFile: 'password' } }),
    );
    const c = await loadConfig({ file: join(dir, 'agent.json'), env: {} });
    expect(c.mqtt.password).toBe('s3cret');
    expect(Object.isFrozen(c.mqtt)).toBe(true);
  });

  it('says which file is missing or not JSON', async () => {
    await expect(loadConfig({ file: join(dir, 'nope.json'), env: {} })).rejects.toThrow(
      /cannot read configuration file .*nope\.json/,
    );
    await writeFile(join(dir, 'bad.json'), '{ robotId: ');
    await expect(loadConfig({ file: join(dir, 'bad.json'), env: {} })).rejects.toThrow(
      /bad\.json is not valid JSON/,
    );
    await writeFile(
      join(dir, 'nopw.json'),
      JSON.stringify({ ...minimal, mqtt: { ...minimal.mqtt, passwordFile: 'gone' } }),
    );
    await expect(loadConfig({ file: join(dir, 'nopw.json'), env: {} })).rejects.toThrow(
      /mqtt\.passwordFile: cannot read .*gone/,
    );
  });
});
