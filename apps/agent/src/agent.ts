/**
 * Wires the agent from its configuration and its side effects (clock, serial port, MQTT client,
 * spool, position file), which come in as `AgentDeps` so that tests swap any of them:
 *
 *   serial bytes ─▶ SerialReader ─▶ Ingest (event time stamped once) ─▶ SpoolWriter ─▶ spool
 *   (ResumeGate)                       └─ firmware acks ─▶ CommandHandler ─┘    │          │
 *   MQTT cmd ─▶ CommandHandler ─▶ serial command frame                 settled ▼          ▼
 *   MQTT time/resp ─▶ GatewayClockSync                DurablePosition ─▶ serial-position.json
 *   serial line opened ─▶ resume frame (from the last frame the agent has)
 *                                                              Publisher ─▶ MqttSession (QoS 1)
 *                                                              spool.ack on PUBACK
 */
import { encodeMessage, encodeSerialFrame, mqttTopic, decodePayload } from '@fleet/protocol';
import {
  EventTimeStamper,
  GatewayClockSync,
  RobotClockEstimator,
  type Clock,
  type TimerHandle,
} from './clock/index.js';
import { CommandHandler } from './commands/index.js';
import type { AgentConfig } from './config.js';
import { emit } from './diagnostics.js';
import { errorMessage } from './errors.js';
import { DurablePosition } from './ingest/durable-position.js';
import { Ingest } from './ingest/ingest.js';
import { PositionRecorder, type PositionFileOptions, type PositionStore } from './ingest/position-file.js';
import { SpoolWriter } from './ingest/spool-writer.js';
import {
  loadTls,
  MqttSession,
  Publisher,
  presencePayload,
  type ConnectMqtt,
  type MqttConnectOptions,
} from './publisher/index.js';
import { Backoff } from './retry.js';
import { SerialConnection, SerialReader, type OpenSerial, type SerialPosition } from './serial/index.js';
import type { Spool } from './spool/spool.js';

export interface SpoolOpenOptions {
  readonly dir: string;
  readonly maxBytes: number;
  readonly priorityMaxBytes?: number;
  readonly fsync: 'always' | 'interval' | 'never';
  readonly fsyncIntervalMs?: number;
}

export interface AgentDeps {
  readonly clock: Clock;
  readonly random: () => number;
  readonly openSerial: OpenSerial;
  readonly connectMqtt: ConnectMqtt;
  readonly openSpool: (options: SpoolOpenOptions) => Promise<Spool>;
  /** Where the last (bootId, seq) the agent spooled is kept between runs (the spool's directory). */
  readonly positionStore: (options: PositionFileOptions) => PositionStore;
  readonly readFile: (path: string) => Promise<Uint8Array>;
}

export interface RunningAgent {
  /** Graceful: stop reading, spool what arrived, publish the backlog (bounded), offline presence, close. */
  stop(): Promise<void>;
  /** Rejects when the agent cannot go on (the spool failed for good); never resolves otherwise. */
  readonly failed: Promise<never>;
  stats(): AgentStats;
}

export type AgentStats = ReturnType<ReturnType<typeof wire>['stats']>;

const STATS_INTERVAL_MS = 60_000;

export async function startAgent(config: AgentConfig, deps: AgentDeps): Promise<RunningAgent> {
  const tls = await loadTls(config, deps.readFile);
  const spool = await deps.openSpool({
    dir: config.spool.dir,
    maxBytes: config.spool.maxBytes,
    ...(config.spool.priorityMaxBytes === undefined
      ? {}
      : { priorityMaxBytes: config.spool.priorityMaxBytes }),
    fsync: config.spool.fsync,
    fsyncIntervalMs: config.spool.fsyncIntervalMs,
  });
  const positions = deps.positionStore({ dir: config.spool.dir, fsync: config.spool.fsync === 'always' });
  let position: SerialPosition | undefined;
  if (config.spool.fsync === 'never') {
    // The spool makes nothing durable, so no position may claim it did (position-file.ts): every
    // start asks the firmware for all it still holds. Duplicates, never a loss.
    emit('serial', 'info', 'serial_position_off', { reason: 'spool.fsync is never' });
  } else {
    try {
      position = await positions.load();
    } catch (e) {
      // Without it the agent asks the firmware for all it holds: duplicates, never a loss.
      emit('serial', 'warn', 'serial_position_unreadable', { error: errorMessage(e) });
    }
  }
  const parts = wire(config, deps, spool, tls, positions, position);
  parts.start();
  emit('agent', 'info', 'agent_started', {
    robotId: config.robotId,
    siteId: config.siteId,
    serial: config.serial.path,
    mqtt: config.mqtt.urls,
    spool: { ...spool.stats() },
    serialPosition: position ?? null,
  });
  return parts;
}

function wire(
  config: AgentConfig,
  deps: AgentDeps,
  spool: Spool,
  tls: MqttConnectOptions['tls'],
  positions: PositionStore,
  position: SerialPosition | undefined,
) {
  const { clock, random } = deps;
  const { robotId, siteId } = config;
  const topic = {
    telemetry: mqttTopic('telemetry', siteId, robotId),
    events: mqttTopic('events', siteId, robotId),
    acks: mqttTopic('acks', siteId, robotId),
    presence: mqttTopic('presence', siteId, robotId),
    timeReq: mqttTopic('time/req', siteId, robotId),
    cmd: mqttTopic('cmd', siteId, robotId),
    timeResp: mqttTopic('time/resp', siteId, robotId),
  };
  const backoff = () => new Backoff(config.reconnect, random);

  let fail: (error: unknown) => void = () => undefined;
  const failed = new Promise<never>((_, reject) => {
    fail = reject;
  });
  failed.catch(() => undefined); // observed by whoever awaits it; never an unhandled rejection

  const robotClock = new RobotClockEstimator(config.clock);
  const gatewaySync = new GatewayClockSync(
    clock,
    (request) => {
      if (!session.connected) return false;
      session.publish(topic.timeReq, encodeMessage(request), { qos: 0 }).catch(() => undefined);
      return true;
    },
    { robotId, ...config.timeSync },
    random,
  );
  const stamper = new EventTimeStamper(robotClock, gatewaySync);

  const recorder = new PositionRecorder(positions, () => spool.durable());
  const keepPosition = config.spool.fsync !== 'never';
  const durable = new DurablePosition(position, (p) => {
    if (keepPosition) recorder.record(p);
  });
  const writer = new SpoolWriter({
    spool,
    clock,
    backoff: backoff(),
    onAppended: (records) => publisher.appended(records),
    onFatal: (error) => fail(error),
  });
  const serial = new SerialConnection({
    path: config.serial.path,
    baudRate: config.serial.baudRate,
    open: deps.openSerial,
    clock,
    backoff: backoff(),
    onData: (chunk, receivedAt) => {
      try {
        reader.push(chunk, receivedAt);
      } catch (e) {
        // Nothing below is meant to throw on bad input; if it does, keep reading the line.
        emit('serial', 'error', 'serial_handler_failed', { error: errorMessage(e) });
      }
    },
    onOpen: () => {
      const resume = reader.opened();
      serial
        .write(encodeSerialFrame(resume, { leadingDelimiter: true }))
        .catch((e: unknown) => emit('serial', 'warn', 'serial_resume_unsent', { error: errorMessage(e) }));
    },
  });
  const commands = new CommandHandler({
    robotId,
    clock,
    stamper,
    serial,
    emitAck: (ack, settled) => {
      try {
        writer.write('priority', encodeMessage(ack), settled);
      } catch (e) {
        emit('commands', 'error', 'command_ack_unencodable', {
          commandId: ack.commandId,
          error: errorMessage(e),
        });
        settled?.(); // it will never be spooled: the position may pass it
      }
    },
    timeoutMs: config.commands.timeoutMs,
  });
  const ingest = new Ingest({
    robotId,
    siteId,
    stamper,
    spool: writer,
    position: durable,
    onAck: (frame, settled) => commands.handleFirmwareAck(frame, settled),
  });
  const reader = new SerialReader(
    {
      onFrame: (frame, receivedAt, delayed) => ingest.onFrame(frame, receivedAt, delayed),
      onReboot: (info) => ingest.onReboot(info),
      onCaughtUp: () => ingest.caughtUp(),
    },
    { clock, ...config.serial.resume, ...(position === undefined ? {} : { position }) },
  );

  const session: MqttSession = new MqttSession({
    urls: config.mqtt.urls,
    connect: deps.connectMqtt,
    clock,
    backoff: backoff(),
    subscriptions: [topic.cmd, topic.timeResp],
    connectOptions: () => ({
      clientId: config.mqtt.clientId,
      username: config.mqtt.username,
      password: config.mqtt.password,
      protocolVersion: config.mqtt.protocolVersion,
      keepaliveSeconds: config.mqtt.keepaliveSeconds,
      connectTimeoutMs: config.mqtt.connectTimeoutMs,
      cleanSession: config.mqtt.cleanSession,
      sessionExpirySeconds: config.mqtt.sessionExpirySeconds,
      will: {
        topic: topic.presence,
        payload: presencePayload(robotId, false, 'last_will', stamper.gatewayTimeOf(clock.now())),
        qos: 1,
        retain: true,
      },
      ...(tls === undefined ? {} : { tls }),
    }),
    onConnected: () => {
      session
        .publish(
          topic.presence,
          presencePayload(robotId, true, 'connected', stamper.gatewayTimeOf(clock.now())),
          {
            qos: 1,
            retain: true,
          },
        )
        .catch((e: unknown) => emit('mqtt', 'warn', 'presence_failed', { error: errorMessage(e) }));
      gatewaySync.start();
      publisher.connected();
    },
    onDisconnected: () => {
      gatewaySync.stop();
      publisher.disconnected();
    },
    onMessage: (t, payload) => {
      if (t === topic.cmd) {
        commands
          .handleMessage(payload)
          .catch((e: unknown) => emit('commands', 'error', 'command_failed', { error: errorMessage(e) }));
      } else if (t === topic.timeResp) timeResponse(payload);
      else emit('mqtt', 'debug', 'mqtt_unexpected_topic', { topic: t });
    },
  });
  const publisher: Publisher = new Publisher({
    spool,
    link: session,
    clock,
    topics: topic,
    maxSamples: config.batch.maxSamples,
    maxDelayMs: config.batch.maxDelayMs,
    maxInflight: config.mqtt.maxInflight,
    onPublishFailure: (error) => session.reconnect(errorMessage(error)),
  });

  let rejectedTimeResponses = 0;
  function timeResponse(payload: Uint8Array): void {
    try {
      const decoded = decodePayload(payload);
      if (decoded.type === 'message' && decoded.message.kind === 'time_sync_response') {
        gatewaySync.handleResponse(decoded.message);
        return;
      }
      throw new Error(
        `expected a time_sync_response, got ${decoded.type === 'message' ? decoded.message.kind : decoded.type}`,
      );
    } catch (e) {
      rejectedTimeResponses++;
      emit('clock', 'warn', 'time_sync_response_rejected', { error: errorMessage(e) });
    }
  }

  let statsTimer: TimerHandle | undefined;
  const logStats = (): void => {
    emit('agent', 'info', 'agent_stats', stats());
    statsTimer = clock.setTimeout(logStats, STATS_INTERVAL_MS);
  };

  function stats() {
    const estimate = robotClock.estimate();
    return {
      serial: { ...serial.stats(), ...reader.stats() },
      ingest: ingest.stats(),
      position: { durable: durable.position, pending: durable.pending, file: recorder.stats() },
      clock: {
        robotOffsetMs: estimate?.offsetMs,
        robotDriftPpm: estimate?.driftPpm,
        robotClockSteps: robotClock.steps,
        gateway: { ...gatewaySync.stats(), rejected: gatewaySync.stats().rejected + rejectedTimeResponses },
      },
      spoolWriter: writer.stats(),
      spool: spool.stats(),
      publisher: publisher.stats(),
      mqtt: session.stats(),
      commands: commands.stats(),
    };
  }

  let stopping: Promise<void> | undefined;
  async function stop(): Promise<void> {
    emit('agent', 'info', 'agent_stopping', {});
    if (statsTimer !== undefined) clock.clearTimeout(statsTimer);
    await serial.stop();
    reader.flush();
    ingest.flush();
    commands.stop();
    await writer.flush();
    await recorder.flush();
    const drained = session.connected ? await publisher.drain(config.shutdown.drainTimeoutMs) : false;
    publisher.stop();
    gatewaySync.stop();
    await session.stop((link) =>
      link.publish(
        topic.presence,
        presencePayload(robotId, false, 'disconnected', stamper.gatewayTimeOf(clock.now())),
        {
          qos: 1,
          retain: true,
        },
      ),
    );
    const left = spool.stats().records;
    await spool.close();
    emit('agent', 'info', 'agent_stopped', { drained, spooled: left });
  }

  return {
    start(): void {
      serial.start();
      session.start();
      statsTimer = clock.setTimeout(logStats, STATS_INTERVAL_MS);
    },
    stop: () => (stopping ??= stop()),
    failed,
    stats,
  };
}
