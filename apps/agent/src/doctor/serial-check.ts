/**
 * Doctor, serial: the device exists, opens at the configured baud rate, and frames arrive within
 * a few seconds and decode. A running agent holds the device (serialport locks it), so stop the
 * agent before running doctor.
 *
 * Then, on the same line, the resume handshake (serial/resume.ts): doctor sends a `resume` frame
 * asking for the last few frames it saw again, and firmware that keeps a replay ring re-sends them
 * at once. Firmware that does not is a warning, not a failure: the agent works with it, but what
 * the firmware sends while the agent is stopped or restarting is lost. Cheap: a handful of frames,
 * and the firmware's ring is not consumed by it (the agent's own resume asks from its position).
 */
import { stat } from 'node:fs/promises';
import { encodeSerialFrame, SerialFrameDecoder } from '@fleet/protocol';
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
  /** How long to wait for the firmware to answer the resume frame; 0 skips that check. */
  readonly resumeWaitMs: number;
}

/** Frames the resume check asks for again: the last ones seen. */
const RESUME_PROBE_FRAMES = 3;

/** `serial`, then `resume` when frames with a seq arrived to ask from. */
export async function checkSerial(options: SerialCheckOptions): Promise<CheckResult[]> {
  const { path, baudRate } = options;
  const name = 'serial';
  try {
    const s = await stat(path);
    if (!s.isCharacterDevice()) {
      return [
        {
          name,
          status: 'fail',
          summary: `${path} exists but is not a character device`,
          advice: [
            'set serial.path to the UART the robot controller is wired to (e.g. /dev/ttyS1, /dev/ttyUSB0)',
          ],
        },
      ];
    }
  } catch (e) {
    return [
      {
        name,
        status: 'fail',
        summary: `${path} does not exist (${errorMessage(e)})`,
        advice: [
          'check serial.path (FLEET_AGENT_SERIAL_PATH); list candidates with: ls -l /dev/ttyS* /dev/ttyUSB* /dev/ttyAMA*',
          'for a USB adapter, check the cable and `dmesg | tail` after plugging it in',
        ],
      },
    ];
  }

  const decoder = new SerialFrameDecoder();
  const enough = options.enoughFrames ?? 5;
  const frames: { bootId?: number; seq?: number; type: string }[] = [];
  let link: SerialLink | undefined;
  let lost: Error | undefined;
  let wake: () => void = () => undefined;
  /** While the resume check waits: the boot and highest seq seen before it asked, and what came again. */
  let probe: { bootId: number; highest: number; replayed: number[] } | undefined;
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
            if (
              probe !== undefined &&
              (f.type === 'sample' || f.type === 'event') &&
              f.bootId === probe.bootId &&
              f.seq <= probe.highest
            ) {
              probe.replayed.push(f.seq);
            }
          }
        }
        if (probe === undefined ? frames.length >= enough : probe.replayed.length > 0) wake();
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
    return [{ name, status: 'fail', summary: `${path} does not open: ${message}`, advice }];
  }
  const wait = (ms: number, ready: () => boolean) =>
    new Promise<void>((done) => {
      const timer = options.clock.setTimeout(done, ms);
      wake = () => {
        options.clock.clearTimeout(timer);
        done();
      };
      if (ready()) wake();
    });
  await wait(options.waitMs, () => frames.length >= enough);
  const serial = summarize();
  const resume = serial.status === 'fail' ? undefined : await checkResume(link);
  await link.close().catch(() => undefined);
  return resume === undefined ? [serial] : [serial, resume];

  async function checkResume(open: SerialLink): Promise<CheckResult | undefined> {
    const sequenced = frames.filter((f) => f.bootId !== undefined && f.seq !== undefined);
    const last = sequenced[sequenced.length - 1];
    if (options.resumeWaitMs <= 0 || last?.bootId === undefined || last.seq === undefined) return undefined;
    const bootId = last.bootId;
    const highest = Math.max(...sequenced.filter((f) => f.bootId === bootId).map((f) => f.seq ?? 0));
    const nextSeq = Math.max(0, highest - (RESUME_PROBE_FRAMES - 1));
    const current = { bootId, highest, replayed: [] as number[] };
    probe = current;
    try {
      await open.write(
        encodeSerialFrame({ type: 'resume', position: { bootId, nextSeq } }, { leadingDelimiter: true }),
      );
    } catch (e) {
      return { name: 'resume', status: 'fail', summary: `cannot write to ${path}: ${errorMessage(e)}` };
    }
    await wait(options.resumeWaitMs, () => current.replayed.length > 0);
    probe = undefined;
    if (current.replayed.length > 0) {
      return {
        name: 'resume',
        status: 'ok',
        summary: `the firmware answers a resume frame: asked for boot ${bootId} from seq ${nextSeq}, it sent seq ${Math.min(...current.replayed)} again`,
      };
    }
    return {
      name: 'resume',
      status: 'warn',
      summary: `the firmware did not answer a resume frame (boot ${bootId} from seq ${nextSeq}) within ${options.resumeWaitMs} ms`,
      advice: [
        'what the firmware sends while the agent is stopped or restarting will be lost: use firmware that keeps a replay ring and answers resume frames (serial frame type 0x05)',
        'if the robot was rebooting just now, run doctor again',
      ],
    };
  }

  function summarize(): CheckResult {
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
}
