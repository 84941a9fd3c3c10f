/**
 * CRC-16/CCITT-FALSE, the checksum at the end of every serial frame.
 *
 * Parameters (Greg Cook's catalogue, where it is also listed as CRC-16/IBM-3740):
 * width 16, poly 0x1021, init 0xFFFF, input and output not reflected, xorout 0x0000,
 * check value over ASCII "123456789" = 0x29B1.
 *
 * Chosen because microcontroller vendors ship it (STM32 CRC unit in 16-bit mode, many HALs): the
 * firmware can checksum in hardware. The polynomial detects every burst of up to 16 bits, every odd
 * number of flipped bits (it has the factor x + 1) and, up to 32,751 data bits (4 KiB, far above the
 * 512-byte frame limit), every error of up to 3 bits.
 *
 * Table-driven, one byte per step: TABLE[i] is the CRC register after shifting the byte i through an
 * all-zero register, so one step is `(crc << 8) ^ TABLE[(crc >> 8) ^ byte]`.
 */
const TABLE = buildTable();

function buildTable(): Uint16Array {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1;
    }
    table[byte] = crc & 0xffff;
  }
  return table;
}

/**
 * CRC-16/CCITT-FALSE of `bytes[start, end)`.
 *
 * @example
 * crc16CcittFalse(new TextEncoder().encode('123456789')); // 0x29b1
 */
export function crc16CcittFalse(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    // Both indexes are in range: i < end <= bytes.length, and the table index is masked to 8 bits.
    crc = ((crc << 8) & 0xff00) ^ TABLE[((crc >>> 8) ^ bytes[i]!) & 0xff]!;
  }
  return crc;
}
