/**
 * Doctor, serial: the device exists, opens at the configured baud rate, and frames arrive within
 * a few seconds and decode. A running agent holds the device (serialport locks it), so stop the
 * agent before running doctor.
 */
import { stat } from 'node:fs/promises';
import { SerialFrameDecoder } from '@fleet/protocol';
import type { Clock } from '../clock/clock.js';
import { errorMessage } from '../errors.js';
import type { OpenSerial, SerialLink } from '../serial/port.js';
import type { CheckResult } from './report.js';

export interface SerialCheckOptions {
  readonly path: string;
  readonly baudRate: number;
  readonly open: OpenSerial;
  readonly clock: Clock;
  /** How long to listen for frames. */
  readonly waitMs: number;
  /** Stop listening early after this many good frames. */
  readonly enoughFrames?: number;
}

export async function checkSerial(options: SerialCheckOptions): Promise<CheckResult> {
  const { path, baudRate } = options;
  const name = 'serial';
  try {
    const s = await stat(path);
    if (!s.isCharacterDevice()) {
      return {
        name,
        status: 'fail',
        summary: `${path} exists but is not a character device`,
        advice: [
          'set serial.path to the UART the robot controller is wired to (e.g. /dev/ttyS1, /dev/ttyUSB0)',
        ],
      };
    }
  } catch (e) {
    return {
      name,
      status: 'fail',
      summary: `${path} does not exist (${errorMessage(e)})`,
      advice: [
        'check serial.path (FLEET_AGENT_SERIAL_PATH); list candidates with: ls -l /dev/ttyS* /dev/ttyUSB* /dev/ttyAMA*',
        'for a USB adapter, check the cable and `dmesg | tail` after plugging it in',
      ],
    };
  }

  const decoder = new SerialFrameDecoder();
  const enough = options.enoughFrames ?? 5;
  const frames: { bootId?: number; seq?: number; type: string }[] = [];
  let link: SerialLink | undefined;
  let lost: Error | undefined;
  let wake: () => void = () => undefined;
  const started = options.clock.now();
  try {
    link = await options.open(path, baudRate, {
      onData: (chunk) => {
        for (const r of decoder.push(chunk)) {
          if (r.ok) {
            const f = r.frame;
            frames.push(
              f.type === 'sample' || f.type === 'event'
                ? { type: f.type, bootId: f.bootId, seq: f.seq }
                : { type: f.type },
            );
          }
        }
        if (frames.length >= enough) wake();
      },
      onLost: (error) => {
        lost = error ?? new Error('device closed');
        wake();
      },
    });
  } catch (e) {
    const message = errorMessage(e);
    const advice = /EACCES|permission/i.test(message)
      ? ['give the agent\'s user access to the device, e.g. add it to the "dialout" group, then log in again']
      : /lock|busy|EBUSY/i.test(message)
        ? ['another process holds the device; stop a running fleet-agent (or other program) first']
        : ['check that the device works and serial.baudRate is one the UART supports'];
    return { name, status: 'fail', summary: `${path} does not open: ${message}`, advice };
  }
  await new Promise<void>((done) => {
    const timer = options.clock.setTimeout(done, options.waitMs);
    wake = () => {
      options.clock.clearTimeout(timer);
      done();
    };
    if (frames.length >= enough) wake();
  });
  await link.close().catch(() => undefined);
  const elapsed = ((options.clock.now() - started) / 1000).toFixed(1);
  const s = decoder.stats;
  const corrupt = Object.entries(s.corruptByCode)
    .filter(([, n]) => n > 0)
    .map(([code, n]) => `${code} ${n}`)
    .join(', ');
  const sampled = frames.filter((f) => f.bootId !== undefined);
  const last = sampled[sampled.length - 1];
  const details = [
    `${s.bytesIn} bytes, ${s.framesOk} frames decoded, ${s.framesCorrupt} corrupt${corrupt === '' ? '' : ` (${corrupt})`} in ${elapsed} s`,
    ...(last === undefined ? [] : [`boot ${last.bootId}, last seq ${last.seq}`]),
  ];
  if (lost !== undefined) {
    return { name, status: 'fail', summary: `${path} closed while listening: ${lost.message}`, details };
  }
  if (s.bytesIn === 0) {
    return {
      name,
      status: 'fail',
      summary: `${path} opens at ${baudRate} baud, but no bytes arrived in ${elapsed} s`,
      details,
      advice: [
        'is the robot controller powered and its firmware running?',
        "check the wiring: the controller's TX goes to this board's RX (and ground is shared)",
      ],
    };
  }
  if (s.framesOk === 0) {
    return {
      name,
      status: 'fail',
      summary: `${path}: ${s.bytesIn} bytes arrived but no frame decoded`,
      details,
      advice: [
        `check serial.baudRate (${baudRate}) against the firmware's UART setting`,
        'check that the firmware speaks the fleet serial protocol (COBS frames with CRC-16)',
      ],
    };
  }
  if (s.framesCorrupt > 0) {
    return {
      name,
      status: 'warn',
      summary: `${path} at ${baudRate} baud: frames arrive, some corrupt`,
      details,
      advice: [
        'corrupt frames are skipped and counted; many of them point to noise on the line, a loose ground or a wrong baud rate',
      ],
    };
  }
  return { name, status: 'ok', summary: `${path} at ${baudRate} baud: frames arrive and decode`, details };
}
