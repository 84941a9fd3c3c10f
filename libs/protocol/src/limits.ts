/**
 * Size limits of the binary and JSON payloads. Decoders check them before they allocate, so a
 * hostile or broken sender cannot make the gateway hold more than these bounds per message.
 *
 * The limits are deliberately a little above what schema v1 can produce: a later schema version may
 * widen a sample row or the header without every MQTT broker, gateway and Kafka topic having to
 * change its maximum message size on the same day.
 */

/** Samples in one telemetry batch record (the u16 count field could carry more). */
export const MAX_BATCH_SAMPLES = 4096;

/**
 * Bytes reserved per sample row when sizing buffers and transport limits. Schema v1 rows take 38
 * bytes; the rest is headroom for later versions.
 */
export const MAX_BATCH_ROW_BYTES = 48;

/**
 * Bytes reserved for a batch header. Schema v1 takes at most 146: 16 fixed bytes plus two ids of
 * 1 length byte and up to 64 characters each.
 */
export const MAX_BATCH_HEADER_BYTES = 256;

/** Largest telemetry batch record any schema version may produce: 196,864 bytes (192.25 KiB). */
export const MAX_BATCH_BYTES = MAX_BATCH_HEADER_BYTES + MAX_BATCH_SAMPLES * MAX_BATCH_ROW_BYTES;

/**
 * Largest binary message (every kind except the telemetry batch). The biggest is a RobotMetadata
 * with 256 zones; schema v1 stays under 71 KiB for it, every other kind under 1 KiB.
 */
export const MAX_MESSAGE_BYTES = 128 * 1024;

/**
 * Largest JSON payload `decodeJson` accepts: a full batch of MAX_BATCH_SAMPLES samples with the
 * longest ids and values is about 2 MB compact, so 4 MiB leaves room for pretty-printed JSON.
 * On MQTT the channel limit (`MQTT_PAYLOAD_LIMITS`) applies first, whatever the format, so a JSON
 * batch published for debugging holds a few hundred samples at most.
 */
export const MAX_JSON_BYTES = 4 * 1024 * 1024;

/** Longest MQTT topic accepted; the scheme's longest topic is 148 bytes. */
export const MAX_TOPIC_BYTES = 256;
