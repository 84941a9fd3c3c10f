/**
 * Integration, real Mosquitto: the test harness the agent's tests stand on (libs/edge-testing)
 * starts the Debian broker, kills and restarts it on the same port, and FAILS with the install
 * command when the binary is missing (tests that need it fail, never skip).
 */
import { startMosquitto } from '@fleet/edge-testing';
import { connectAsync } from 'mqtt';
import { describe, expect, it } from 'vitest';

describe('startMosquitto (real broker)', () => {
  it('accepts connections, refuses wrong passwords, and comes back on the same port after kill -9', async () => {
    const broker = await startMosquitto({ passwordFile: { alice: 'pw' } });
    try {
      const client = await connectAsync(broker.url, {
        username: 'alice',
        password: 'pw',
        reconnectPeriod: 0,
      });
      await client.endAsync();
      await expect(
        connectAsync(broker.url, { username: 'alice', password: 'nope', reconnectPeriod: 0 }),
      ).rejects.toThrow(/Not authorized|Bad username or password/);
      await broker.kill();
      expect(broker.running).toBe(false);
      await broker.restart();
      expect(broker.running).toBe(true);
      const again = await connectAsync(broker.url, { username: 'alice', password: 'pw', reconnectPeriod: 0 });
      await again.endAsync();
    } finally {
      await broker.stop();
    }
  });

  it('fails with the install command when the binary is missing', async () => {
    await expect(startMosquitto({ binary: '/nonexistent/mosquitto' })).rejects.toThrow(
      /not installed .*apt-get install mosquitto/,
    );
  });
});
