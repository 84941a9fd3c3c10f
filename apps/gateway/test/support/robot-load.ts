/**
 * A steady telemetry load from real mqtt.js robot clients, behaving like the agent at the MQTT level:
 * one connection per robot (client id and user name = robot id, its provisioned secret), a
 * persistent session (clean: false), binary telemetry batches published with QoS 1 every
 * `intervalMs` with increasing seq, and a batch counts as delivered only when its PUBACK arrives.
 * A batch not yet acknowledged is kept and published again after a reconnect until it is.
 *
 * Resend: mqtt.js (5.x) keeps every QoS 1 PUBLISH in its outgoing store until the PUBACK, and on
 * every CONNACK sends the whole store again before anything new (`MqttClient._onConnect` ->
 * `outgoingStore.createStream()`; independent of `clean`), keeping the publish callback, which
 * then fires on the PUBACK of the resent packet. Publishes made while disconnected go into the same
 * store. So the driver needs no resend loop of its own for a lost connection; it republishes only a
 * batch whose callback reports an error (mqtt.js gave up on it), and counts that.
 *
 * What the driver knows afterwards is the ground truth of a checker: every batch, when it was first
 * published and when (if ever) its PUBACK arrived.
 */
import type { Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { encodeTelemetryBatch, mqttTopic } from '@fleet/protocol';
import { samples } from './samples.js';

export interface LoadRobot {
  readonly robotId: string;
  readonly siteId: string;
  readonly secret: string;
}

export interface RobotLoadOptions {
  /** `mqtt://host:port` of the gateway. */
  readonly url: string;
  readonly robots: readonly LoadRobot[];
  /** Period of each robot's batches. Default 100 ms. */
  readonly intervalMs?: number;
  /** Samples per batch (38 bytes each on the wire). Default 10. */
  readonly samplesPerBatch?: number;
  /** MQTT keepalive; the broker drops a connection it has not read from for 1.5 × this. Default 30 s. */
  readonly keepaliveSeconds?: number;
  /** Delay before a reconnect. Default 500 ms. */
  readonly reconnectPeriodMs?: number;
  readonly now?: () => number;
}

/** One published batch: samples `firstSeq .. firstSeq + count - 1` of one robot and boot. */
export interface LoadBatch {
  readonly robotId: string;
  readonly bootId: number;
  readonly firstSeq: number;
  readonly count: number;
  readonly firstPublishedAt: number;
  /** When the PUBACK arrived; undefined while unacknowledged. */
  ackedAt: number | undefined;
  /** Times the driver published it again after mqtt.js reported an error (not mqtt.js's own resends). */
  republished: number;
}

export interface RobotLoadStats {
  readonly batches: number;
  readonly acked: number;
  readonly pending: number;
  readonly samplesAcked: number;
  /** CONNACKs after the first, all robots together. */
  readonly reconnects: number;
  /** Connections lost (closed by either side), all robots together. */
  readonly connectionsLost: number;
  readonly republished: number;
}

/** `robot/boot/seq`, the identity of a sample everywhere downstream. */
export const sampleKey = (robotId: string, bootId: number, seq: number): string =>
  `${robotId}/${bootId}/${seq}`;

interface Driven {
  readonly robot: LoadRobot;
  readonly bootId: number;
  readonly topic: string;
  readonly client: MqttClient;
  nextSeq: number;
  connects: number;
  timer: NodeJS.Timeout | undefined;
}

export class RobotLoad {
  readonly batches: LoadBatch[] = [];
  readonly #robots: Driven[];
  readonly #o: Required<Omit<RobotLoadOptions, 'robots' | 'url'>>;
  #connectionsLost = 0;
  #stopped = false;
  #closing = false;

  private constructor(robots: Driven[], options: Required<Omit<RobotLoadOptions, 'robots' | 'url'>>) {
    this.#robots = robots;
    this.#o = options;
  }

  /** Connects every robot (rejects if one is refused), then starts publishing. */
  static async start(options: RobotLoadOptions): Promise<RobotLoad> {
    const o = {
      intervalMs: options.intervalMs ?? 100,
      samplesPerBatch: options.samplesPerBatch ?? 10,
      keepaliveSeconds: options.keepaliveSeconds ?? 30,
      reconnectPeriodMs: options.reconnectPeriodMs ?? 500,
      now: options.now ?? Date.now,
    };
    const driven: Driven[] = options.robots.map((robot) => ({
      robot,
      // A fresh boot per run, as a robot that just powered on (u32, never 0).
      bootId: 1 + Math.floor(Math.random() * 0x7fff_fffe),
      topic: mqttTopic('telemetry', robot.siteId, robot.robotId),
      client: mqtt.connect(options.url, {
        clientId: robot.robotId,
        username: robot.robotId,
        password: robot.secret,
        clean: false,
        protocolVersion: 4,
        keepalive: o.keepaliveSeconds,
        reconnectPeriod: o.reconnectPeriodMs,
        connectTimeout: 10_000,
      }),
      nextSeq: 0,
      connects: 0,
      timer: undefined,
    }));
    const load = new RobotLoad(driven, o);
    try {
      await Promise.all(driven.map((d) => load.#connect(d)));
    } catch (error) {
      await load.close();
      throw error;
    }
    driven.forEach((d, i) => {
      // Spread the robots over the period, as real ones are.
      setTimeout(
        () => {
          if (load.#stopped) return;
          d.timer = setInterval(() => load.#publishNext(d), o.intervalMs);
        },
        Math.floor((i * o.intervalMs) / driven.length),
      );
    });
    return load;
  }

  #connect(d: Driven): Promise<void> {
    d.client.on('connect', () => {
      d.connects++;
    });
    d.client.on('close', () => {
      if (!this.#closing) this.#connectionsLost++;
    });
    // Errors (a refused reconnect, a reset) surface as close + reconnect; the stats show them.
    d.client.on('error', () => undefined);
    return new Promise((resolve, reject) => {
      d.client.once('connect', () => resolve());
      d.client.once('error', (error) =>
        reject(new Error(`${d.robot.robotId}: ${error.message}`, { cause: error })),
      );
    });
  }

  #publishNext(d: Driven): void {
    const count = this.#o.samplesPerBatch;
    const batch: LoadBatch = {
      robotId: d.robot.robotId,
      bootId: d.bootId,
      firstSeq: d.nextSeq,
      count,
      firstPublishedAt: this.#o.now(),
      ackedAt: undefined,
      republished: 0,
    };
    d.nextSeq += count;
    this.batches.push(batch);
    const payload = Buffer.from(
      encodeTelemetryBatch(samples(d.robot.robotId, d.robot.siteId, d.bootId, batch.firstSeq, count)),
    );
    this.#publish(d, batch, payload);
  }

  #publish(d: Driven, batch: LoadBatch, payload: Buffer): void {
    d.client.publish(d.topic, payload, { qos: 1 }, (error) => {
      if (error === undefined || error === null) {
        batch.ackedAt ??= this.#o.now();
        return;
      }
      if (this.#closing) return;
      // mqtt.js dropped the packet from its store: the agent would still hold it in its spool.
      batch.republished++;
      setTimeout(() => this.#publish(d, batch, payload), this.#o.reconnectPeriodMs);
    });
  }

  /** Stops making new batches; what is published keeps being resent until acknowledged. */
  stop(): void {
    this.#stopped = true;
    for (const d of this.#robots) clearInterval(d.timer);
  }

  /** Resolves once every published batch is acknowledged; rejects after `timeoutMs` with the count left. */
  async drained(timeoutMs: number): Promise<void> {
    const deadline = this.#o.now() + timeoutMs;
    for (;;) {
      const pending = this.batches.filter((b) => b.ackedAt === undefined).length;
      if (pending === 0) return;
      if (this.#o.now() > deadline) {
        throw new Error(
          `${pending} of ${this.batches.length} batches still without PUBACK after ${timeoutMs} ms`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Every acknowledged sample, by `sampleKey`. */
  ackedSamples(): Set<string> {
    const keys = new Set<string>();
    for (const b of this.batches) {
      if (b.ackedAt === undefined) continue;
      for (let i = 0; i < b.count; i++) keys.add(sampleKey(b.robotId, b.bootId, b.firstSeq + i));
    }
    return keys;
  }

  /**
   * Bytes the clients' current connections have handed to the kernel (written, minus what Node still
   * buffers because the socket was full); with `queuedBytes` of the server's port this tells how
   * much the server has read. Counts only connections still open.
   */
  bytesToKernel(): number {
    let n = 0;
    for (const d of this.#robots) {
      const socket = d.client.stream as Partial<Socket> | undefined;
      n += (socket?.bytesWritten ?? 0) - (socket?.writableLength ?? 0);
    }
    return n;
  }

  stats(): RobotLoadStats {
    const acked = this.batches.filter((b) => b.ackedAt !== undefined);
    return {
      batches: this.batches.length,
      acked: acked.length,
      pending: this.batches.length - acked.length,
      samplesAcked: acked.reduce((n, b) => n + b.count, 0),
      reconnects: this.#robots.reduce((n, d) => n + Math.max(0, d.connects - 1), 0),
      connectionsLost: this.#connectionsLost,
      republished: this.batches.reduce((n, b) => n + b.republished, 0),
    };
  }

  /** Stops publishing and closes every connection at once (unacknowledged batches stay unacknowledged). */
  async close(): Promise<void> {
    this.stop();
    this.#closing = true;
    await Promise.all(this.#robots.map((d) => d.client.endAsync(true).catch(() => undefined)));
  }
}
