/**
 * The real side effects: the host clock, `serialport`, mqtt.js, the file spool, the position file,
 * the filesystem.
 */
import { readFile } from 'node:fs/promises';
import type { AgentDeps } from './agent.js';
import { systemClock } from './clock/clock.js';
import { positionFile } from './ingest/position-file.js';
import { connectMqtt } from './publisher/mqtt-client.js';
import { openSerialPort } from './serial/port.js';
import { openFileSpool } from './spool/file-spool.js';

export function productionDeps(): AgentDeps {
  return {
    clock: systemClock,
    random: Math.random,
    openSerial: openSerialPort,
    connectMqtt,
    openSpool: (options) => openFileSpool(options),
    positionStore: positionFile,
    readFile: (path) => readFile(path),
  };
}
