/** A keyed count/sum job over JSON records `{"t", "v"}` for the runtime's tests. */
import { structCodec } from '@fleet/state';
import { defineJob, tumblingWindows } from '../../../src/index.js';

interface In {
  readonly t: number;
  readonly v: number;
}
const decoder = new TextDecoder();

export const keyedCounts = defineJob<In>({
  name: 'counts',
  read(record, out) {
    if (record.key === null || !(record.value instanceof Uint8Array)) return;
    const m = JSON.parse(decoder.decode(record.value)) as In;
    out.element(record.key, m.t, m);
  },
  operators: [
    tumblingWindows({
      name: 'counts_1m',
      sizeMs: 60_000,
      accCodec: structCodec(['count', 'sum']),
      aggregate: {
        create: () => ({ count: 0, sum: 0 }),
        add: (acc, e: In) => ({ count: acc.count + 1, sum: acc.sum + e.v }),
        result: (acc) => ({ count: acc.count, sum: acc.sum }),
      },
    }),
  ],
});
