/**
 * The cloud side of an integration test: a real mqtt.js client on the real broker, subscribed to
 * everything the robot sends, decoding it as the gateway would, publishing commands, and (when
 * asked) answering the agent's time-sync requests as the gateway does, on a clock `offsetMs` ahead.
 */
import {
  decodePayload,
  encodeMessage,
  mqttTopic,
  parseMqttTopic,
  type Command,
  type CommandAck,
  type Message,
  type MqttChannel,
  type Presence,
  type TelemetryBatch,
  type TelemetrySample,
} from '@fleet/protocol';
import { connectAsync, type IClientOptions, type MqttClient } from 'mqtt';

export interface Received {
  readonly channel: MqttChannel;
  readonly retain: boolean;
  readonly at: number;
  readonly batch?: TelemetryBatch;
  readonly message?: Message;
}

export class CloudSide {
  readonly received: Received[] = [];
  private gatewayAheadMs: number | undefined;

  private constructor(
    private readonly client: MqttClient,
    readonly siteId: string,
    readonly robotId: string,
  ) {
    client.on('message', (topic, payload, packet) => {
      const { channel } = parseMqttTopic(topic);
      if (channel === 'cmd' || channel === 'time/resp') return; // its own traffic to the robot
      const decoded = decodePayload(payload);
      const entry: Received =
        decoded.type === 'telemetry_batch'
          ? { channel, retain: packet.retain, at: Date.now(), batch: decoded.batch }
          : { channel, retain: packet.retain, at: Date.now(), message: decoded.message };
      this.received.push(entry);
      if (channel === 'time/req' && this.gatewayAheadMs !== undefined && decoded.type === 'message') {
        this.answerTime(decoded.message);
      }
    });
  }

  static async connect(
    url: string,
    siteId: string,
    robotId: string,
    options: Partial<IClientOptions> = {},
  ): Promise<CloudSide> {
    const client = await connectAsync(url, { reconnectPeriod: 250, connectTimeout: 5000, ...options });
    const cloud = new CloudSide(client, siteId, robotId);
    await client.subscribeAsync(`fleet/v1/${siteId}/${robotId}/#`, { qos: 1 });
    return cloud;
  }

  /** Answer time/req like the gateway, with a clock `offsetMs` ahead of this machine's. */
  actAsTimeServer(offsetMs: number): void {
    this.gatewayAheadMs = offsetMs;
  }

  async publishCommand(command: Command | Uint8Array): Promise<void> {
    const payload = command instanceof Uint8Array ? command : encodeMessage(command);
    await this.client.publishAsync(mqttTopic('cmd', this.siteId, this.robotId), Buffer.from(payload), {
      qos: 1,
    });
  }

  /** Every sample of every telemetry batch, in arrival order (duplicates included). */
  samples(): TelemetrySample[] {
    return this.received.flatMap((r) => r.batch?.samples ?? []);
  }

  acks(): CommandAck[] {
    return this.received.flatMap((r) => (r.message?.kind === 'command_ack' ? [r.message] : []));
  }

  presence(): (Presence & { retain: boolean })[] {
    return this.received.flatMap((r) =>
      r.message?.kind === 'presence' ? [{ ...r.message, retain: r.retain }] : [],
    );
  }

  async waitFor(what: string, predicate: () => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!predicate()) {
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await new Promise((done) => setTimeout(done, 25));
    }
  }

  async close(): Promise<void> {
    await this.client.endAsync(true);
  }

  private answerTime(message: Message): void {
    if (message.kind !== 'time_sync_request' || this.gatewayAheadMs === undefined) return;
    const t1 = Date.now() + this.gatewayAheadMs;
    const response = encodeMessage({
      kind: 'time_sync_response',
      robotId: message.robotId,
      requestId: message.requestId,
      agentSendTime: message.agentSendTime,
      gatewayReceiveTime: t1,
      gatewaySendTime: t1,
    });
    this.client.publish(mqttTopic('time/resp', this.siteId, this.robotId), Buffer.from(response), { qos: 0 });
  }
}
