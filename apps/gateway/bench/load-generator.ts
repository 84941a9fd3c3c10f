/**
 * One load-generator process of `bench:ingest` (started by ingest.bench.ts with node:child_process
 * fork; never run by hand). It holds up to ~18k MQTT 3.1.1 connections (the open-file limit is
 * 20,000 per process) from one loopback source address, and drives them as the orchestrator says
 * over IPC (messages in fleet.ts).
 *
 * The client is lean on purpose — mqtt.js costs too much per connection for 100k clients: a
 * `net.Socket`, an mqtt-packet parser, and for publishing connections `window` prebuilt PUBLISH
 * packets (QoS 1, packet id = slot + 1) whose telemetry batch gets new sequence numbers and event
 * times patched in place before every send, so every record in Kafka is a distinct (robot, boot,
 * seq). A slot is reused only after its PUBACK [MQTT-4.3.2], which also means the socket is done
 * with its bytes. Latency is PUBLISH written → PUBACK parsed, on this process's clock.
 *
 * Keepalive: a connection that has sent nothing for `keepaliveSeconds` sends PINGREQ [MQTT-3.1.2-23].
 */
import { connect as netConnect, type Socket } from 'node:net';
import { generate, parser as mqttParser, type Packet, type Parser } from 'mqtt-packet';
import { decodeTelemetryBatch, encodeTelemetryBatch, mqttTopic, type TelemetrySample } from '@fleet/protocol';
import { LatencyHistogram } from './histogram.js';
import {
  robotId,
  robotSecret,
  siteId,
  type ConnectionCounters,
  type FromGenerator,
  type GeneratorSetup,
  type LoadCounters,
  type LoadSpec,
  type ToGenerator,
} from './fleet.js';

/** Telemetry batch v1 (libs/protocol/src/batch/telemetry-batch-v1.ts): where the patched fields are. */
const BASE_EVENT_TIME_AT = 10; // u48 LE
const ROW_BYTES = 38; // a row starts with seq, u32 LE
const headerBytes = (robot: string, site: string): number => 18 + robot.length + site.length;

const PINGREQ = Buffer.from([0xc0, 0x00]);
const SAMPLE_PERIOD_MS = 100; // 10 Hz
const CONNACK_TIMEOUT_MS = 30_000;
const RECONNECT_DELAY_MS = 1000;

interface Publisher {
  /** PUBLISH packets; packet id = slot + 1. */
  readonly slots: Buffer[];
  /** performance.now() when the slot was sent; 0 = free. */
  readonly sentAt: Float64Array;
  readonly free: number[];
  readonly batch: number;
  /** Offset of the payload inside each slot's packet. */
  readonly payloadAt: number;
  readonly rowsAt: number;
  readonly baseTime: number;
  seq: number;
}

interface Connection {
  readonly index: number;
  readonly robot: number;
  readonly host: string;
  readonly port: number;
  socket: Socket | undefined;
  up: boolean;
  lastSent: number;
  publisher: Publisher | undefined;
}

function send(message: FromGenerator): void {
  process.send?.(message);
}

function samplesFor(robot: number, bootId: number, count: number, baseTime: number): TelemetrySample[] {
  return Array.from({ length: count }, (_, i) => ({
    kind: 'telemetry' as const,
    robotId: robotId(robot),
    siteId: siteId(robot),
    bootId,
    seq: i,
    eventTime: baseTime + i * SAMPLE_PERIOD_MS,
    voltageMv: 14_400 - (robot % 500),
    currentMa: 1200,
    socPermille: 800,
    batteryTempDeciC: 310,
    cycleCount: 42,
    xMm: 1000 + i,
    yMm: 2000,
    headingCdeg: 9000,
    speedMmS: 250,
    dirtLevel: 12,
    mode: 'cleaning' as const,
    errorFlags: 0,
  }));
}

class Generator {
  readonly #s: GeneratorSetup;
  readonly #connections: Connection[] = [];
  readonly #queue: number[] = [];
  #tokens = 0;
  #lastTick = performance.now();
  #pending = 0;
  #up = 0;
  #failed = 0;
  #dropped = 0;
  #pings = 0;
  readonly #refused: Record<string, number> = {};
  readonly #latency = new LatencyHistogram();
  // Load state
  #load: LoadSpec | undefined;
  #loading = false;
  #publishers: Connection[] = [];
  #loadStarted = 0;
  #issued = 0;
  #inFlight = 0;
  #sent = 0;
  #acked = 0;
  #ackedSamples = 0;
  #deferred = 0;
  #lostInFlight = 0;
  readonly #bootId: number;

  constructor(setup: GeneratorSetup) {
    this.#s = setup;
    this.#bootId = (Date.now() / 1000) >>> 0;
    for (let k = 0; k < setup.robots; k++) {
      const robot = setup.firstRobot + k;
      this.#connections.push({
        index: k,
        robot,
        ...(setup.endpoints[robot % setup.endpoints.length] as { host: string; port: number }),
        socket: undefined,
        up: false,
        lastSent: 0,
        publisher: undefined,
      });
    }
    setInterval(() => this.#tick(), 10).unref();
    setInterval(() => this.#keepalive(), 1000).unref();
    setInterval(() => send({ type: 'progress', connections: this.connections() }), 1000).unref();
  }

  connectAll(): void {
    for (let k = 0; k < this.#connections.length; k++) this.#queue.push(k);
  }

  connections(): ConnectionCounters {
    return {
      up: this.#up,
      pending: this.#pending,
      refused: { ...this.#refused },
      failed: this.#failed,
      dropped: this.#dropped,
      pingsSent: this.#pings,
    };
  }

  loadCounters(): LoadCounters {
    return {
      sent: this.#sent,
      acked: this.#acked,
      ackedSamples: this.#ackedSamples,
      deferred: this.#deferred,
      lostInFlight: this.#lostInFlight,
    };
  }

  get inFlight(): number {
    return this.#inFlight;
  }

  takeLatency() {
    const sparse = this.#latency.sparse();
    this.#latency.reset();
    return sparse;
  }

  #tick(): void {
    const now = performance.now();
    this.#tokens = Math.min(
      this.#s.connectRate,
      this.#tokens + ((now - this.#lastTick) / 1000) * this.#s.connectRate,
    );
    this.#lastTick = now;
    while (this.#tokens >= 1 && this.#pending < this.#s.maxPendingConnects && this.#queue.length > 0) {
      this.#tokens--;
      this.#open(this.#connections[this.#queue.shift() as number] as Connection);
    }
    const load = this.#load;
    if (this.#loading && load !== undefined && load.rate > 0 && this.#publishers.length > 0) {
      // Open loop: publisher i is due `rate` times a second, the publishers taken in turn.
      const due = Math.floor(((now - this.#loadStarted) / 1000) * load.rate * this.#publishers.length);
      while (this.#issued < due) {
        const c = this.#publishers[this.#issued % this.#publishers.length] as Connection;
        this.#issued++;
        if (!this.#publish(c, now)) this.#deferred++;
      }
    }
  }

  #keepalive(): void {
    const now = performance.now();
    const idle = this.#s.keepaliveSeconds * 1000;
    for (const c of this.#connections) {
      if (c.up && now - c.lastSent >= idle) {
        c.socket?.write(PINGREQ);
        c.lastSent = now;
        this.#pings++;
      }
    }
  }

  #open(c: Connection): void {
    this.#pending++;
    const id = robotId(c.robot);
    const socket = netConnect({ host: c.host, port: c.port });
    socket.setNoDelay(true);
    c.socket = socket;
    const parser: Parser = mqttParser({ protocolVersion: 4 });
    let acknowledged = false;
    const timer = setTimeout(() => socket.destroy(), CONNACK_TIMEOUT_MS);
    parser.on('packet', (packet: Packet) => {
      switch (packet.cmd) {
        case 'puback':
          this.#puback(c, packet.messageId ?? 0);
          return;
        case 'connack':
          clearTimeout(timer);
          this.#pending--;
          acknowledged = true;
          if (packet.returnCode !== 0) {
            const code = String(packet.returnCode);
            this.#refused[code] = (this.#refused[code] ?? 0) + 1;
            socket.destroy();
            return;
          }
          c.up = true;
          c.lastSent = performance.now();
          this.#up++;
          if (this.#loading && this.#load?.rate === 0) this.#fill(c);
          return;
        default:
          return; // pingresp
      }
    });
    parser.on('error', (error: Error) => socket.destroy(error));
    socket.on('data', (data: Buffer) => parser.parse(data));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(timer);
      c.socket = undefined;
      if (!acknowledged) {
        this.#pending--;
        this.#failed++;
        setTimeout(() => this.#queue.push(c.index), RECONNECT_DELAY_MS).unref();
        return;
      }
      if (!c.up) return; // refused: not retried
      c.up = false;
      this.#up--;
      this.#dropped++;
      const p = c.publisher;
      if (p !== undefined) {
        for (let slot = 0; slot < p.sentAt.length; slot++) {
          if (p.sentAt[slot] !== 0) {
            p.sentAt[slot] = 0;
            p.free.push(slot);
            this.#inFlight--;
            this.#lostInFlight++;
          }
        }
      }
      setTimeout(() => this.#queue.push(c.index), RECONNECT_DELAY_MS).unref();
    });
    socket.write(
      generate({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clean: true,
        clientId: id,
        keepalive: this.#s.keepaliveSeconds,
        username: id,
        password: Buffer.from(robotSecret(this.#s.seed, c.robot)),
      }),
    );
  }

  load(spec: LoadSpec): void {
    this.#loading = false;
    this.#load = spec;
    for (const c of this.#publishers) c.publisher = undefined;
    const n = this.#connections.length;
    const count = Math.min(spec.publishers, n);
    this.#publishers = [];
    for (let i = 0; i < count; i++) {
      const c = this.#connections[Math.floor((i * n) / count)] as Connection;
      c.publisher = this.#buildPublisher(c.robot, spec);
      this.#publishers.push(c);
    }
    this.#inFlight = 0;
    this.#sent = this.#acked = this.#ackedSamples = this.#deferred = this.#lostInFlight = 0;
    this.#issued = 0;
    this.#latency.reset();
    this.#loadStarted = performance.now();
    this.#loading = true;
    if (spec.rate === 0) for (const c of this.#publishers) this.#fill(c);
  }

  stopLoad(): void {
    this.#loading = false;
  }

  #buildPublisher(robot: number, spec: LoadSpec): Publisher {
    const baseTime = Date.now() - 3_600_000;
    const payload = Buffer.from(encodeTelemetryBatch(samplesFor(robot, this.#bootId, spec.batch, baseTime)));
    const topic = mqttTopic('telemetry', siteId(robot), robotId(robot));
    const slots: Buffer[] = [];
    for (let slot = 0; slot < spec.window; slot++) {
      slots.push(
        generate({ cmd: 'publish', topic, payload, qos: 1, messageId: slot + 1, retain: false, dup: false }),
      );
    }
    const payloadAt = (slots[0] as Buffer).length - payload.length;
    return {
      slots,
      sentAt: new Float64Array(spec.window),
      free: Array.from({ length: spec.window }, (_, i) => spec.window - 1 - i),
      batch: spec.batch,
      payloadAt,
      rowsAt: payloadAt + headerBytes(robotId(robot), siteId(robot)),
      baseTime,
      seq: 0,
    };
  }

  #fill(c: Connection): void {
    const now = performance.now();
    let more = true;
    while (more) more = this.#publish(c, now);
  }

  /** Sends the next batch of `c` if its window has room; false otherwise. */
  #publish(c: Connection, now: number): boolean {
    const p = c.publisher;
    if (!c.up || p === undefined || c.socket === undefined) return false;
    const slot = p.free.pop();
    if (slot === undefined) return false;
    const packet = p.slots[slot] as Buffer;
    const first = p.seq;
    p.seq += p.batch;
    packet.writeUIntLE(p.baseTime + first * SAMPLE_PERIOD_MS, p.payloadAt + BASE_EVENT_TIME_AT, 6);
    for (let i = 0, at = p.rowsAt; i < p.batch; i++, at += ROW_BYTES)
      packet.writeUInt32LE((first + i) >>> 0, at);
    p.sentAt[slot] = now;
    c.socket.write(packet);
    c.lastSent = now;
    this.#inFlight++;
    this.#sent++;
    return true;
  }

  #puback(c: Connection, messageId: number): void {
    const p = c.publisher;
    const slot = messageId - 1;
    const sentAt = p?.sentAt[slot];
    if (p === undefined || sentAt === undefined || sentAt === 0) return;
    const now = performance.now();
    this.#latency.record(now - sentAt);
    p.sentAt[slot] = 0;
    p.free.push(slot);
    this.#inFlight--;
    this.#acked++;
    this.#ackedSamples += p.batch;
    if (this.#loading && this.#load?.rate === 0) this.#publish(c, now);
  }

  close(): void {
    for (const c of this.#connections) c.socket?.destroy();
  }
}

/** The patched packet must still be a valid batch with the sequence numbers we meant: checked once. */
function selfCheck(): void {
  const robot = 123;
  const bytes = Buffer.from(encodeTelemetryBatch(samplesFor(robot, 7, 5, Date.now())));
  const rowsAt = headerBytes(robotId(robot), siteId(robot));
  for (let i = 0; i < 5; i++) bytes.writeUInt32LE(1000 + i, rowsAt + i * ROW_BYTES);
  bytes.writeUIntLE(1_700_000_000_000, BASE_EVENT_TIME_AT, 6);
  const batch = decodeTelemetryBatch(bytes);
  const seqs = batch.samples.map((s) => s.seq).join(',');
  if (seqs !== '1000,1001,1002,1003,1004' || batch.samples[0]?.eventTime !== 1_700_000_000_000) {
    throw new Error(`telemetry batch layout changed: patched seqs ${seqs}; update load-generator.ts offsets`);
  }
}

function main(): void {
  const setup = JSON.parse(process.argv[2] ?? '{}') as GeneratorSetup;
  selfCheck();
  const generator = new Generator(setup);
  const drain = async (id: number, timeoutMs: number): Promise<void> => {
    generator.stopLoad();
    const deadline = performance.now() + timeoutMs;
    while (generator.inFlight > 0 && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    send({
      type: 'drained',
      id,
      connections: generator.connections(),
      load: generator.loadCounters(),
      inFlight: generator.inFlight,
      latency: generator.takeLatency(),
    });
  };
  process.on('message', (message: ToGenerator) => {
    switch (message.type) {
      case 'connect':
        generator.connectAll();
        return;
      case 'load':
        generator.load(message.load);
        return;
      case 'snapshot':
        send({
          type: 'snapshot',
          id: message.id,
          at: Date.now(),
          connections: generator.connections(),
          load: generator.loadCounters(),
          inFlight: generator.inFlight,
          latency: generator.takeLatency(),
        });
        return;
      case 'stop-load':
        void drain(message.id, message.timeoutMs);
        return;
      case 'close':
        generator.close();
        setTimeout(() => process.exit(0), 200);
        return;
      default: {
        const never: never = message;
        throw new Error(`unknown message ${JSON.stringify(never)}`);
      }
    }
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready' });
}

try {
  main();
} catch (error) {
  send({ type: 'error', message: error instanceof Error ? (error.stack ?? error.message) : String(error) });
  process.exitCode = 1;
}
