/**
 * `npm run bench:protocol`: encode and decode rates of the binary telemetry batch record and of the
 * serial frames, in one run, printed and written to bench-results/protocol.json. The batch figures
 * are single-threaded, so they are per core; the target is decoding >= 5M samples/s on one core.
 */
import { formatBatchTable, measureBatchCodec } from './batch.bench.js';
import { resultPath, writeResult } from './bench-kit.js';
import { formatSerialTable, measureSerialCodec } from './serial.bench.js';

const TARGET_DECODE_SAMPLES_PER_SEC = 5_000_000;
const RESULT_PATH = resultPath('protocol.json');

const batch = measureBatchCodec();
console.log(formatBatchTable(batch));
const serial = measureSerialCodec();
console.log(`\n${formatSerialTable(serial)}`);

const decode = batch.figures.filter((f) => f.codec === 'binary' && f.operation === 'decode');
const slowest = Math.min(...decode.map((f) => f.medianSamplesPerSec));
const target = {
  figure: 'binary batch decode, median samples/s, one core, slowest batch size',
  value: slowest,
  target: TARGET_DECODE_SAMPLES_PER_SEC,
  met: slowest >= TARGET_DECODE_SAMPLES_PER_SEC,
};
console.log(
  `\ntarget: ${target.figure} = ${Math.round(slowest).toLocaleString('en')} ` +
    `(>= ${TARGET_DECODE_SAMPLES_PER_SEC.toLocaleString('en')}): ${target.met ? 'met' : 'NOT met'}`,
);

writeResult(RESULT_PATH, { target, batch, serial });
console.log(`wrote ${RESULT_PATH}`);
