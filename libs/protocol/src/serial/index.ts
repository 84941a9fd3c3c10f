export { crc16CcittFalse } from './crc16.js';
export { cobsDecode, cobsEncode, cobsMaxEncodedLength } from './cobs.js';
export {
  decodeSerialFrame,
  encodeSerialFrame,
  MAX_ENCODED_SERIAL_FRAME_SIZE,
  MAX_SERIAL_FRAME_SIZE,
  MIN_SERIAL_FRAME_SIZE,
  SERIAL_FRAME_DELIMITER,
  SERIAL_FRAME_VERSION,
  type EncodeSerialFrameOptions,
  type SerialFrame,
} from './frame.js';
export type {
  FirmwareAckOutcome,
  SerialAckFrame,
  SerialCommandFrame,
  SerialEventFrame,
  SerialFrameType,
  SerialResumeFrame,
  SerialResumePosition,
  SerialSampleFrame,
} from './frame-v1.js';
export {
  SerialFrameDecoder,
  type SerialDecodeResult,
  type SerialDecoderStats,
  type SerialErrorCode,
} from './decoder.js';
