import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, parseConfig } from '../src/config.js';

const required = { KAFKA_BROKERS: 'k1:9092,k2:9092', DATABASE_URL: 'postgres://u:p@db:5432/fleet' };

describe('gateway configuration', () => {
  it('needs only Kafka and PostgreSQL; everything else has a default', () => {
    const config = loadConfig({ env: required });
    expect(config.kafka.brokers).toEqual(['k1:9092', 'k2:9092']);
    expect(config.mqtt).toMatchObject({
      mode: 'embedded',
      tcp: { host: '0.0.0.0', port: 1883 },
      tls: null,
      ws: null,
    });
    expect(config.bridge.maxInflightBytes).toBe(64 * 1024 * 1024);
    expect(config.http).toEqual({ host: '0.0.0.0', port: 9464 });
    expect(Object.isFrozen(config.mqtt)).toBe(true);
  });

  it('says what is missing', () => {
    expect(() => loadConfig({ env: {} })).toThrow(/kafka\.brokers: required[\s\S]*databaseUrl: required/);
  });

  it('reads a file, resolves its TLS paths next to it, and lets the environment override it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-config-'));
    const file = join(dir, 'gateway.json');
    await writeFile(
      file,
      JSON.stringify({
        kafka: { brokers: ['file:9092'] },
        databaseUrl: 'postgres://file/db',
        mqtt: { tls: { port: 8883, certFile: 'tls.crt', keyFile: 'tls.key' } },
      }),
    );
    const config = loadConfig({ file, env: { FLEET_GATEWAY_MQTT_PORT: '11883', KAFKA_BROKERS: 'env:9092' } });
    expect(config.mqtt.tls).toMatchObject({
      port: 8883,
      certFile: join(dir, 'tls.crt'),
      keyFile: join(dir, 'tls.key'),
    });
    expect(config.mqtt.tcp?.port).toBe(11883);
    expect(config.kafka.brokers).toEqual(['env:9092']);
  });

  it('names the variable behind a bad value and refuses unknown FLEET_GATEWAY_ variables', () => {
    expect(() => loadConfig({ env: { ...required, FLEET_GATEWAY_MQTT_PORT: 'abc' } })).toThrow(
      /mqtt\.tcp\.port \(from FLEET_GATEWAY_MQTT_PORT\)/,
    );
    expect(() => loadConfig({ env: { ...required, FLEET_GATEWAY_MQT_PORT: '1' } })).toThrow(
      /unknown environment variable\(s\) FLEET_GATEWAY_MQT_PORT/,
    );
  });

  it('requires the external broker settings in external mode', () => {
    const base = { kafka: { brokers: ['k:9092'] }, databaseUrl: 'postgres://x/y' };
    expect(() => parseConfig({ ...base, mqtt: { mode: 'external' } })).toThrow(ConfigError);
    expect(
      parseConfig({ ...base, mqtt: { mode: 'external', external: { url: 'mqtt://broker:1883' } } }).mqtt
        .external?.group,
    ).toBe('fleet-gateways');
  });
});
