/**
 * Recorded v1 frames (test/fixtures/serial/v1, written once by generate.ts): whatever changes in the
 * codec, these bytes from robots in the field must keep decoding to the same values, and commands
 * must keep going out as the same bytes.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { encodeSerialFrame, SerialFrameDecoder, type SerialFrame } from '../src/serial/index.js';
import { concatBytes } from './fixtures/serial/craft.js';

interface Fixture {
  description: string;
  encoding?: { leadingDelimiter: boolean };
  results: ({ frame: SerialFrame } | { error: string })[];
}

const dir = new URL('./fixtures/serial/v1/', import.meta.url);
const names = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .map((f) => f.slice(0, -'.json'.length))
  .sort();

describe('recorded serial v1 fixtures', () => {
  it('are all there: every frame type, every event body and action, the corrupt cases', () => {
    expect(names.length).toBe(24);
  });

  describe.each(names)('%s', (name) => {
    const fixture = JSON.parse(readFileSync(new URL(`${name}.json`, dir), 'utf8')) as Fixture;
    const bytes = new Uint8Array(readFileSync(new URL(`${name}.bin`, dir)));

    it(`decodes: ${fixture.description}`, () => {
      const results = new SerialFrameDecoder().push(bytes);
      expect(results.map((r) => (r.ok ? { frame: r.frame } : { error: r.error.code }))).toStrictEqual(
        fixture.results,
      );
    });

    const encoding = fixture.encoding;
    if (encoding !== undefined) {
      it('encodes to the recorded bytes', () => {
        const frames = fixture.results.flatMap((r) => ('frame' in r ? [r.frame] : []));
        expect(concatBytes(frames.map((f) => encodeSerialFrame(f, encoding)))).toEqual(bytes);
      });
    }
  });
});
