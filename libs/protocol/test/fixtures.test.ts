/**
 * Recorded fixtures: the bytes robots and gateways of each released layout version send. Decoding
 * them must keep giving the recorded values whatever the current layout is, so an incompatible
 * change to a decoder fails here. The fixtures are written once by `fixtures/generate.ts`, which
 * this test never runs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  decodePayload,
  encodeMessage,
  encodeTelemetryBatch,
  MESSAGE_LAYOUT_VERSION,
  TELEMETRY_BATCH_VERSION,
} from '../src/index.js';

const root = new URL('./fixtures/', import.meta.url);
const versions = readdirSync(root, { withFileTypes: true })
  .filter((d) => d.isDirectory() && /^v\d+$/.test(d.name))
  .map((d) => d.name);

describe('recorded fixtures', () => {
  it('exist for the current layout versions', () => {
    expect(versions).toContain(`v${TELEMETRY_BATCH_VERSION}`);
    expect(versions).toContain(`v${MESSAGE_LAYOUT_VERSION}`);
  });

  for (const version of versions) {
    const dir = new URL(`${version}/`, root);
    const names = readdirSync(dir)
      .filter((f) => f.endsWith('.bin'))
      .map((f) => f.slice(0, -'.bin'.length))
      .sort();

    describe(version, () => {
      it('has a .json for every .bin and covers batches and every message kind', () => {
        const files = new Set(readdirSync(dir));
        for (const n of names) expect(files.has(`${n}.json`), `${n}.json`).toBe(true);
        const kinds = new Set<string>();
        for (const n of names) {
          const expected = JSON.parse(readFileSync(new URL(`${n}.json`, dir), 'utf8')) as {
            type: string;
            message?: { kind: string };
          };
          kinds.add(expected.message?.kind ?? expected.type);
        }
        expect([...kinds].sort()).toEqual([
          'command',
          'command_ack',
          'presence',
          'robot_event',
          'robot_metadata',
          'telemetry',
          'telemetry_batch',
          'time_sync_request',
          'time_sync_response',
        ]);
      });

      it.each(names)('%s decodes to its recorded value', (name) => {
        const bytes = new Uint8Array(readFileSync(new URL(`${name}.bin`, dir)));
        const expected: unknown = JSON.parse(readFileSync(new URL(`${name}.json`, dir), 'utf8'));
        const { format, ...decoded } = decodePayload(bytes);
        expect(format).toBe('binary');
        expect(decoded).toEqual(expected);
        expect(bytes[1]).toBe(Number(version.slice(1)));
        // While this version is the one being written, encoding must reproduce the recorded bytes.
        if (bytes[1] === TELEMETRY_BATCH_VERSION && decoded.type === 'telemetry_batch') {
          expect(encodeTelemetryBatch(decoded.batch.samples)).toEqual(bytes);
        }
        if (bytes[1] === MESSAGE_LAYOUT_VERSION && decoded.type === 'message') {
          expect(encodeMessage(decoded.message)).toEqual(bytes);
        }
      });
    });
  }
});
