/** What the rest of the gateway needs from the MQTT side, embedded broker or external client. */
export interface MqttSide {
  readonly mode: 'embedded' | 'external';
  /** Listening ports of the embedded broker (empty for an external broker). */
  readonly addresses: { readonly tcp?: number; readonly tls?: number; readonly ws?: number };
  /** Publishes cloud-to-robot (commands, time/resp). */
  publish(topic: string, payload: Buffer, qos: 0 | 1): Promise<void>;
  commandTopic(robotId: string, siteId: string): string;
  close(): Promise<void>;
}
