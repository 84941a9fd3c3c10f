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

  it('refuses a session timeout that is not more than twice the heartbeat', () => {
    expect(() =>
      readConfig(
        [...base, '--brokers', 'a:1', '--heartbeat-ms', '1000', '--session-timeout-ms', '2000'],
        env,
      ),
    ).toThrow(/--session-timeout-ms must be more than twice --heartbeat-ms/);
  });
});
