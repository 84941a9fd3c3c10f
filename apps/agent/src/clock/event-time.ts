/**
 * Event time: the robot's `robotTime` on the gateway's clock,
 *
 *   eventTime = gatewaySync.toGatewayTime(robotClock.toAgentTime(robotTime)),
 *
 * rounded to whole ms and kept within the schema's epoch range. The agent stamps a sample ONCE,
 * when its frame arrives, before it is spooled; the stamp is part of the stored record and is never
 * recomputed (downstream identity is (robot, boot, seq) and the stored event time goes with it).
 */
import { MAX_EPOCH_MS } from '@fleet/protocol';
import type { GatewayClockSync } from './gateway-sync.js';
import type { RobotClockEstimator } from './robot-clock.js';

export class EventTimeStamper {
  constructor(
    readonly robotClock: RobotClockEstimator,
    readonly gatewaySync: Pick<GatewayClockSync, 'toGatewayTime' | 'toAgentTime'>,
  ) {}

  /** Feeds one robot clock reading; true when it revealed a clock step. */
  observe(robotTime: number, receivedAt: number): boolean {
    return this.robotClock.observe(robotTime, receivedAt);
  }

  /** The corrected event time of `robotTime` (call after `observe` of the same frame). */
  eventTime(robotTime: number): number {
    const t = Math.round(this.gatewaySync.toGatewayTime(this.robotClock.toAgentTime(robotTime)));
    return Math.min(MAX_EPOCH_MS, Math.max(0, t));
  }

  /** A gateway-clock instant (a command deadline) on the robot's clock. */
  robotTimeOf(gatewayTime: number): number {
    const t = Math.round(this.robotClock.toRobotTime(this.gatewaySync.toAgentTime(gatewayTime)));
    return Math.min(MAX_EPOCH_MS, Math.max(0, t));
  }

  /** Agent-clock `agentTime` on the gateway's clock (for the agent's own acks and presence). */
  gatewayTimeOf(agentTime: number): number {
    return Math.min(MAX_EPOCH_MS, Math.max(0, Math.round(this.gatewaySync.toGatewayTime(agentTime))));
  }
}
