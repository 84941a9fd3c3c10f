/**
 * Doctor, broker: for each configured URL, connect with the robot's credentials (a separate client
 * id, clean session, no last will, so the running agent's session and presence are untouched),
 * subscribe to the robot's own `cmd` topic and publish one time-sync request on its own `time/req`
 * topic at QoS 1, waiting for the PUBACK.
 */
import { encodeMessage, mqttTopic } from '@fleet/protocol';
import { withTimeout as timeout, type Clock } from '../clock/clock.js';
import type { AgentConfig } from '../config.js';
import { AgentErrorCode, errorMessage, isAgentError } from '../errors.js';
import type { ConnectMqtt, MqttConnectOptions, MqttConnection } from '../publisher/mqtt-client.js';
import type { CheckResult } from './report.js';

export interface BrokerCheckOptions {
  readonly config: AgentConfig;
  readonly connect: ConnectMqtt;
  readonly clock: Clock;
  readonly tls: MqttConnectOptions['tls'];
}

export async function checkBroker(options: BrokerCheckOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  for (const url of options.config.mqtt.urls) results.push(await checkUrl(url, options));
  return results;
}

async function checkUrl(url: string, options: BrokerCheckOptions): Promise<CheckResult> {
  const { config, clock } = options;
  const name = `broker ${url}`;
  const timeoutMs = config.mqtt.connectTimeoutMs + 1000;
  let connection: MqttConnection | undefined;
  let lastError: unknown;
  const connected = await new Promise<boolean>((resolve) => {
    const timer = clock.setTimeout(() => resolve(false), timeoutMs);
    const done = (ok: boolean) => {
      clock.clearTimeout(timer);
      resolve(ok);
    };
    connection = options.connect(
      url,
      {
        clientId: `${config.mqtt.clientId}-doctor`,
        username: config.mqtt.username,
        password: config.mqtt.password,
        protocolVersion: config.mqtt.protocolVersion,
        keepaliveSeconds: config.mqtt.keepaliveSeconds,
        connectTimeoutMs: config.mqtt.connectTimeoutMs,
        cleanSession: true,
        sessionExpirySeconds: 0,
        ...(options.tls === undefined ? {} : { tls: options.tls }),
      },
      {
        onConnect: () => done(true),
        onMessage: () => undefined,
        onError: (error) => {
          lastError = error;
        },
        onClose: () => done(false),
      },
    );
  });
  const conn = connection;
  if (!connected || conn === undefined) {
    await conn?.end(true);
    return connectFailure(name, url, config.mqtt.username, lastError, timeoutMs);
  }
  const details = [
    `connected and authenticated as ${config.mqtt.username} (MQTT ${config.mqtt.protocolVersion === 5 ? '5.0' : '3.1.1'})`,
  ];
  try {
    const cmd = mqttTopic('cmd', config.siteId, config.robotId);
    const granted = await timeout(
      clock,
      conn.subscribe([cmd], 1),
      timeoutMs,
      `no SUBACK within ${timeoutMs} ms`,
    );
    if ((granted[0] ?? 128) >= 128) {
      return {
        name,
        status: 'fail',
        summary: `the broker refuses a subscription to ${cmd}`,
        details,
        advice: [
          "the broker's ACL must let this robot read its own cmd topic (and write telemetry, events, acks, presence, time/req)",
        ],
      };
    }
    details.push(`subscribed to ${cmd}`);
    const timeReq = mqttTopic('time/req', config.siteId, config.robotId);
    const payload = encodeMessage({
      kind: 'time_sync_request',
      robotId: config.robotId,
      requestId: 0,
      agentSendTime: clock.now(),
    });
    await timeout(
      clock,
      conn.publish(timeReq, payload, { qos: 1 }),
      timeoutMs,
      `no PUBACK within ${timeoutMs} ms`,
    );
    details.push(`published to ${timeReq} at QoS 1, PUBACK received`);
    if (config.mqtt.protocolVersion === 4) {
      details.push(
        '(MQTT 3.1.1 brokers acknowledge publishes their ACL drops; protocolVersion 5 reports such denials)',
      );
    }
    return { name, status: 'ok', summary: 'connects, authenticates, subscribes and publishes', details };
  } catch (e) {
    return {
      name,
      status: 'fail',
      summary: `connected, but: ${errorMessage(e)}`,
      details,
      advice: ["check the broker's ACL for this robot's topics (fleet/v1/<site>/<robot>/...)"],
    };
  } finally {
    await timeout(clock, conn.end(false), 2000, 'no clean disconnect').catch(() => conn.end(true));
  }
}

function connectFailure(
  name: string,
  url: string,
  username: string,
  error: unknown,
  timeoutMs: number,
): CheckResult {
  const message = error === undefined ? `no CONNACK within ${timeoutMs} ms` : errorMessage(error);
  const host = new URL(url);
  const advice: string[] = [];
  if (isAgentError(error, AgentErrorCode.MQTT_AUTH)) {
    advice.push(
      `check mqtt.username (${username}; the robot id by default) and the password (mqtt.password or mqtt.passwordFile)`,
      "check that the broker has this robot's credentials (e.g. mosquitto_passwd) and allows it to connect",
    );
  } else if (/ECONNREFUSED/.test(message)) {
    advice.push(
      `nothing accepts connections at ${host.hostname}:${host.port || defaultPort(host.protocol)}: is the broker running, and is the port right (1883 plain, 8883 TLS)?`,
    );
  } else if (/ENOTFOUND|EAI_AGAIN/.test(message)) {
    advice.push(`the host name ${host.hostname} does not resolve: check the URL and this board's DNS`);
  } else if (/certificate|self.signed|CERT_|unable to verify|SSL|TLS|wrong version/i.test(message)) {
    advice.push(
      "TLS failed: set mqtt.tls.caFile to the CA that signed the broker's certificate, and check that the URL's host matches the certificate",
      'an mqtts:// URL needs a TLS port (usually 8883); an mqtt:// URL a plain one (1883)',
    );
  } else if (error === undefined) {
    advice.push('no answer: a firewall, a wrong port, or TLS spoken to a plain port (or the reverse)');
  } else {
    advice.push("check the URL, the network and the broker's log");
  }
  return { name, status: 'fail', summary: `cannot connect: ${message}`, advice };
}

function defaultPort(protocol: string): string {
  return protocol === 'mqtts:' ? '8883' : '1883';
}
