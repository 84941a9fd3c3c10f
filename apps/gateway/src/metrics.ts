/**
 * The gateway's Prometheus metrics, in a registry of its own (several gateways can share a process
 * in tests). Names follow Prometheus conventions: `_total` counters, base units (seconds, bytes).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/**
 * What the bridge counts on every PUBLISH, as plain numbers: prom-client hashes the label set on
 * each `inc`/`set`, which costs more than the rest of the bookkeeping. The metrics below read these
 * at scrape time (`collect`), so /metrics and `metric.get()` show the current values.
 */
export class PublishFigures {
  /** Payload bytes and PUBLISHes waiting for Kafka. */
  inflightBytes = 0;
  inflightPublishes = 0;
  /** Telemetry samples acknowledged by Kafka. */
  samples = 0;
  /** PUBLISHes handled, by `channel` then `outcome`. */
  readonly publishes = new Map<string, Map<string, number>>();

  countPublish(channel: string, outcome: string): void {
    let byOutcome = this.publishes.get(channel);
    if (byOutcome === undefined) {
      byOutcome = new Map();
      this.publishes.set(channel, byOutcome);
    }
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  }
}

export function createMetrics(gatewayId: string) {
  const figures = new PublishFigures();
  const registry = new Registry();
  registry.setDefaultLabels({ gateway: gatewayId });
  collectDefaultMetrics({ register: registry, prefix: 'fleet_gateway_process_' });
  const m = {
    registry,
    figures,
    connections: new Gauge({
      name: 'fleet_gateway_connections',
      help: 'MQTT connections held (authenticated)',
      registers: [registry],
    }),
    connects: new Counter({
      name: 'fleet_gateway_connects_total',
      help: 'Accepted MQTT connections',
      registers: [registry],
    }),
    authRefusals: new Counter({
      name: 'fleet_gateway_auth_refusals_total',
      help: 'CONNECTs refused, by reason (anonymous, unknown_robot, bad_secret, revoked, bad_client_id, unavailable)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    aclRefusals: new Counter({
      name: 'fleet_gateway_acl_refusals_total',
      help: "PUBLISHes and SUBSCRIBEs refused because the topic is not the robot's own, by operation",
      labelNames: ['operation'] as const,
      registers: [registry],
    }),
    publishes: new Counter({
      name: 'fleet_gateway_publishes_total',
      help: 'PUBLISH packets handled, by channel and outcome (kafka, dead_letter, answered, ignored)',
      labelNames: ['channel', 'outcome'] as const,
      registers: [registry],
      collect() {
        this.reset();
        for (const [channel, byOutcome] of figures.publishes)
          for (const [outcome, n] of byOutcome) this.inc({ channel, outcome }, n);
      },
    }),
    samples: new Counter({
      name: 'fleet_gateway_samples_total',
      help: 'Telemetry samples acknowledged by Kafka',
      registers: [registry],
      collect() {
        this.reset();
        this.inc(figures.samples);
      },
    }),
    deadLetters: new Counter({
      name: 'fleet_gateway_dead_letters_total',
      help: 'Payloads written to the dead-letter topic, by reason code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    kafkaLatency: new Histogram({
      name: 'fleet_gateway_kafka_ack_seconds',
      help: 'From PUBLISH received to Kafka acknowledgement (acks=all), retries included',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    kafkaErrors: new Counter({
      name: 'fleet_gateway_kafka_errors_total',
      help: 'Failed produce attempts (each is retried), by LogError code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    inflightBytes: new Gauge({
      name: 'fleet_gateway_inflight_bytes',
      help: 'Payload bytes waiting for Kafka',
      registers: [registry],
      collect() {
        this.set(figures.inflightBytes);
      },
    }),
    inflightPublishes: new Gauge({
      name: 'fleet_gateway_inflight_publishes',
      help: 'PUBLISHes waiting for Kafka',
      registers: [registry],
      collect() {
        this.set(figures.inflightPublishes);
      },
    }),
    backpressureWaits: new Counter({
      name: 'fleet_gateway_backpressure_waits_total',
      help: 'PUBLISHes that waited because maxInflightBytes was reached',
      registers: [registry],
    }),
    presence: new Counter({
      name: 'fleet_gateway_presence_changes_total',
      help: 'Presence records written, by reason',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    timeSync: new Counter({
      name: 'fleet_gateway_time_sync_answers_total',
      help: 'time/req answered',
      registers: [registry],
    }),
    commands: new Counter({
      name: 'fleet_gateway_commands_total',
      help: 'Commands read from Kafka, by outcome (published, expired, invalid)',
      labelNames: ['outcome'] as const,
      registers: [registry],
    }),
  };
  return m;
}

export type GatewayMetrics = ReturnType<typeof createMetrics>;
