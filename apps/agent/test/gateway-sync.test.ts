/**
 * Agent clock → gateway clock by NTP-style exchanges, with a simulated clock and network: the
 * gateway's clock is 4.321 s ahead of the agent's; each leg takes 5..80 ms, asymmetrically.
 */
import type { TimeSyncRequest } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { EventTimeStamper } from '../src/clock/event-time.js';
import { GatewayClockSync } from '../src/clock/gateway-sync.js';
import { RobotClockEstimator } from '../src/clock/robot-clock.js';
import { ManualClock } from './support/manual-clock.js';
import { seededRandom } from './support/random.js';

const GATEWAY_AHEAD_MS = 4321;

function setup(options: { samples?: number; connected?: () => boolean } = {}) {
  const clock = new ManualClock();
  const random = seededRandom(7);
  const sent: TimeSyncRequest[] = [];
  const sync = new GatewayClockSync(
    clock,
    (request) => {
      if (options.connected?.() === false) return false;
      sent.push(request);
      // The simulated gateway answers on its own clock after an uplink delay; the answer takes a downlink delay.
      const up = 5 + random() * 75;
      const down = 5 + random() * 75;
      clock.setTimeout(() => {
        const t1 = clock.now() + GATEWAY_AHEAD_MS;
        const t2 = t1 + 1;
        clock.setTimeout(() => {
          sync.handleResponse({
            kind: 'time_sync_response',
            robotId: request.robotId,
            requestId: request.requestId,
            agentSendTime: request.agentSendTime,
            gatewayReceiveTime: t1,
            gatewaySendTime: t2,
          });
        }, down + 1);
      }, up);
      return true;
    },
    { robotId: 'r-1', intervalMs: 60_000, samples: options.samples ?? 8, requestTimeoutMs: 5000 },
    () => 0.5,
  );
  return { clock, sync, sent };
}

describe('gateway clock sync (simulated clock and network)', () => {
  it('uses offset 0 before the first exchange, and says it is not synced', () => {
    const { sync } = setup();
    expect(sync.synced).toBe(false);
    expect(sync.offsetMs).toBe(0);
    expect(sync.toGatewayTime(1000)).toBe(1000);
  });

  it('keeps the least-delayed of the recent exchanges: the offset error is at most half its delay', () => {
    const { clock, sync, sent } = setup();
    sync.start();
    clock.advance(30 * 60_000);
    expect(sync.synced).toBe(true);
    const stats = sync.stats();
    expect(Math.abs(sync.offsetMs - GATEWAY_AHEAD_MS)).toBeLessThanOrEqual((stats.delayMs ?? 0) / 2 + 1);
    // Asymmetric legs of up to 75 ms each: the best of 8 exchanges is far better than a typical one.
    expect(Math.abs(sync.offsetMs - GATEWAY_AHEAD_MS)).toBeLessThan(20);
    expect(stats.answered).toBe(sent.length);
  });

  it('after a connect asks every 2 s for half of the samples, then every intervalMs', () => {
    const { clock, sync, sent } = setup({ samples: 8 });
    sync.start();
    clock.advance(0);
    expect(sent).toHaveLength(1);
    clock.advance(2000 * 3 + 500); // t = 6.5 s: requests at 0, 2, 4, 6 s
    expect(sent).toHaveLength(4);
    clock.advance(59_000); // t = 65.5 s
    expect(sent).toHaveLength(4);
    clock.advance(1000); // 66 s: from now on every minute
    expect(sent).toHaveLength(5);
    clock.advance(60_000);
    expect(sent).toHaveLength(6);
    sync.stop();
    clock.advance(10 * 60_000);
    expect(sent).toHaveLength(6);
  });

  it('ignores answers that match no request, come too late, or contradict themselves', () => {
    const clock = new ManualClock();
    const sent: TimeSyncRequest[] = [];
    const sync = new GatewayClockSync(clock, (r) => (sent.push(r), true), {
      robotId: 'r-1',
      intervalMs: 60_000,
      samples: 4,
      requestTimeoutMs: 1000,
    });
    sync.start();
    clock.advance(0);
    const request = sent[0];
    if (request === undefined) throw new Error('no request sent');
    const answer = {
      kind: 'time_sync_response' as const,
      robotId: 'r-1',
      requestId: request.requestId,
      agentSendTime: request.agentSendTime,
      gatewayReceiveTime: request.agentSendTime + 10,
      gatewaySendTime: request.agentSendTime + 11,
    };
    expect(sync.handleResponse({ ...answer, requestId: request.requestId + 1 })).toBe(false);
    expect(sync.handleResponse({ ...answer, robotId: 'r-2' })).toBe(false);
    expect(sync.handleResponse({ ...answer, agentSendTime: request.agentSendTime - 1 })).toBe(false);
    expect(sync.handleResponse({ ...answer, gatewaySendTime: answer.gatewayReceiveTime - 5 })).toBe(false);
    clock.advance(1500);
    expect(sync.handleResponse(answer)).toBe(false); // too late
    expect(sync.synced).toBe(false);
  });

  it('does not flood a gateway that never answers: a few warm-up requests, then one per intervalMs', () => {
    const clock = new ManualClock();
    const sent: TimeSyncRequest[] = [];
    const sync = new GatewayClockSync(clock, (r) => (sent.push(r), true), {
      robotId: 'r-1',
      intervalMs: 60_000,
      samples: 8,
      requestTimeoutMs: 5000,
    });
    sync.start();
    clock.advance(10 * 60_000);
    // 4 warm-up requests (0, 2, 4, 6 s), then 9 at 66 s, 126 s, ..., 546 s.
    expect(sent).toHaveLength(4 + 9);
    expect(sync.synced).toBe(false);
  });

  it('sends nothing while disconnected', () => {
    const { clock, sync, sent } = setup({ connected: () => false });
    sync.start();
    clock.advance(10_000);
    expect(sent).toHaveLength(0);
    expect(sync.synced).toBe(false);
  });
});

describe('event time: robot clock → agent clock → gateway clock', () => {
  it('stamps robot time on the gateway clock, and translates a gateway deadline back to the robot clock', () => {
    const { clock, sync } = setup();
    sync.start();
    clock.advance(5 * 60_000);
    const robotClock = new RobotClockEstimator({ windowMs: 600_000, bucketMs: 5000 });
    const stamper = new EventTimeStamper(robotClock, sync);
    const robotAhead = 3 * 60_000;
    for (let t = 0; t < 60_000; t += 100) {
      const agentTime = clock.now() + t;
      stamper.observe(agentTime + robotAhead, agentTime + 2);
    }
    const measuredAt = clock.now() + 60_000;
    const eventTime = stamper.eventTime(measuredAt + robotAhead);
    expect(Math.abs(eventTime - (measuredAt + GATEWAY_AHEAD_MS))).toBeLessThan(25);
    expect(Number.isInteger(eventTime)).toBe(true);
    const deadline = measuredAt + GATEWAY_AHEAD_MS + 30_000; // gateway clock
    expect(Math.abs(stamper.robotTimeOf(deadline) - (measuredAt + 30_000 + robotAhead))).toBeLessThan(25);
  });
});
