/** Reads the TLS files the configuration names, for mqtts:// URLs (mqtt:// needs none). */
import type { AgentConfig } from '../config.js';
import { AgentError, AgentErrorCode, errorMessage } from '../errors.js';
import type { MqttConnectOptions } from './mqtt-client.js';

export async function loadTls(
  config: AgentConfig,
  readFile: (path: string) => Promise<Uint8Array>,
): Promise<MqttConnectOptions['tls']> {
  if (!config.mqtt.urls.some((u) => u.startsWith('mqtts:'))) return undefined;
  const { caFile, certFile, keyFile, rejectUnauthorized } = config.mqtt.tls;
  const read = async (field: 'ca' | 'cert' | 'key', path: string | undefined) => {
    if (path === undefined) return {};
    try {
      return { [field]: await readFile(path) };
    } catch (e) {
      throw new AgentError(
        AgentErrorCode.CONFIG_FILE_UNREADABLE,
        `mqtt.tls.${field}File: cannot read ${path}: ${errorMessage(e)}`,
        { path },
        { cause: e },
      );
    }
  };
  const [ca, cert, key] = await Promise.all([
    read('ca', caFile),
    read('cert', certFile),
    read('key', keyFile),
  ]);
  return { rejectUnauthorized, ...ca, ...cert, ...key };
}
