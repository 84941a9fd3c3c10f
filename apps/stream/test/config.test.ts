/** The stream CLI's configuration: what it accepts, and the message for what it refuses. */
import { describe, expect, it } from 'vitest';
import { ConfigError, readConfig } from '../src/config.js';

const base = ['--job-name', 'counts', '--input', 'telemetry', '--instance', 's-0'];
const env = { DATABASE_URL: 'postgres://u@localhost/db' };

describe('stream configuration', () => {
  it('runs on Kafka by default, brokers from the flag or KAFKA_BROKERS', () => {
    expect(readConfig(base, { ...env, KAFKA_BROKERS: 'a:1,b:2' }).log).toEqual({
      kind: 'kafka',
      brokers: ['a:1', 'b:2'],
    });
    expect(readConfig([...base, '--brokers', 'c:3'], env).log).toEqual({ kind: 'kafka', brokers: ['c:3'] });
    expect(() => readConfig(base, env)).toThrow(
      new ConfigError('no Kafka brokers: --brokers or KAFKA_BROKERS'),
    );
  });

  it('runs on the file-backed log with --log file and a folder, and needs no brokers then', () => {
    expect(readConfig([...base, '--log', 'file', '--log-dir', '/var/lib/fleet/log'], env).log).toEqual({
      kind: 'file',
      dir: '/var/lib/fleet/log',
    });
    expect(readConfig([...base, '--log', 'file'], { ...env, FLEET_LOG_DIR: '/data/log' }).log).toEqual({
      kind: 'file',
      dir: '/data/log',
    });
    expect(() => readConfig([...base, '--log', 'file'], env)).toThrow(
      /--log file needs --log-dir DIR or FLEET_LOG_DIR/,
    );
    expect(() => readConfig([...base, '--log', 'redis'], env)).toThrow(
      /--log must be kafka or file, got redis/,
    );
  });

  it('keeps state in memory by default, or in LevelDB in a folder', () => {
    const kafka = [...base, '--brokers', 'a:1'];
    expect(readConfig(kafka, env).state).toEqual({ kind: 'memory' });
    expect(
      readConfig([...kafka, '--state', 'leveldb', '--state-dir', '/var/lib/fleet/state'], env).state,
    ).toEqual({
      kind: 'leveldb',
      dir: '/var/lib/fleet/state',
    });
    expect(() => readConfig([...kafka, '--state', 'leveldb'], env)).toThrow(
      /--state leveldb needs --state-dir DIR or FLEET_STREAM_STATE_DIR/,
    );
    expect(() => readConfig([...kafka, '--state', 'rocks'], env)).toThrow(
      /--state must be memory or leveldb, got rocks/,
    );
  });

  it('refuses a session timeout that is not more than twice the heartbeat', () => {
    expect(() =>
      readConfig(
        [...base, '--brokers', 'a:1', '--heartbeat-ms', '1000', '--session-timeout-ms', '2000'],
        env,
      ),
    ).toThrow(/--session-timeout-ms must be more than twice --heartbeat-ms/);
  });

  it('takes partitions from the Kafka consumer group on Kafka, from leases on the file log', () => {
    const kafka = [...base, '--brokers', 'a:1'];
    const file = [...base, '--log', 'file', '--log-dir', '/d'];
    expect(readConfig(kafka, env).membership).toBe('kafka-group');
    expect(readConfig([...kafka, '--membership', 'lease'], env).membership).toBe('lease');
    expect(readConfig(file, env).membership).toBe('lease');
    expect(() => readConfig([...file, '--membership', 'kafka-group'], env)).toThrow(
      /--membership kafka-group needs --log kafka/,
    );
    expect(() => readConfig([...kafka, '--membership', 'zk'], env)).toThrow(
      /--membership must be kafka-group or lease, got zk/,
    );
  });

  it('publishes late data to a topic only when --late-topic names one', () => {
    const kafka = [...base, '--brokers', 'a:1'];
    expect(readConfig(kafka, env).lateTopic).toBeUndefined();
    expect(readConfig([...kafka, '--late-topic', 'fleet.late-data.v1'], env).lateTopic).toBe(
      'fleet.late-data.v1',
    );
  });
});
