import { Socket } from 'node:net';

/**
 * A readiness probe that speaks just enough of the Kafka wire protocol to know that a broker really
 * serves requests, with no client library: ApiVersions v0 then Metadata v4 on one connection.
 *
 * Wire layout (Kafka protocol guide, "Requests"; all integers big-endian):
 *   Request   := Size:int32 ApiKey:int16 ApiVersion:int16 CorrelationId:int32 ClientId:string Body
 *   Response  := Size:int32 CorrelationId:int32 Body                 (response header v0)
 *   string    := Length:int16 Bytes      (nullable: length -1 is null)
 *   ApiVersions v0 body (response): ErrorCode:int16 [ApiKey:int16 Min:int16 Max:int16]
 *   Metadata v4 body (request):  Topics:[string] (empty array: no topics) AllowAutoTopicCreation:int8
 *   Metadata v4 body (response): Throttle:int32 [NodeId:int32 Host:string Port:int32 Rack:string?]
 *                                ClusterId:string? ControllerId:int32 [topics...]
 * Both versions exist in every KRaft release: KIP-896 (Kafka 4.0) removed Metadata v0-v3 only, and
 * ApiVersions v0 stays because clients use it before they know anything else.
 */
export interface KafkaProbeResult {
  readonly clusterId: string | null;
  readonly controllerId: number;
  readonly brokers: readonly { readonly nodeId: number; readonly host: string; readonly port: number }[];
  /** apiKey -> [min, max] supported version. */
  readonly apiVersions: ReadonlyMap<number, readonly [number, number]>;
}

const API_VERSIONS = 18;
const METADATA = 3;
const CLIENT_ID = 'fleet-probe';

function request(apiKey: number, apiVersion: number, correlationId: number, body: Buffer): Buffer {
  const clientId = Buffer.from(CLIENT_ID, 'utf8');
  const header = Buffer.alloc(4 + 2 + 2 + 4 + 2);
  header.writeInt32BE(header.length - 4 + clientId.length + body.length, 0);
  header.writeInt16BE(apiKey, 4);
  header.writeInt16BE(apiVersion, 6);
  header.writeInt32BE(correlationId, 8);
  header.writeInt16BE(clientId.length, 12);
  return Buffer.concat([header, clientId, body]);
}

class Cursor {
  offset = 0;
  constructor(private readonly buf: Buffer) {}
  int16(): number {
    const v = this.buf.readInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  int32(): number {
    const v = this.buf.readInt32BE(this.offset);
    this.offset += 4;
    return v;
  }
  nullableString(): string | null {
    const len = this.int16();
    if (len < 0) return null;
    const v = this.buf.toString('utf8', this.offset, this.offset + len);
    this.offset += len;
    return v;
  }
}

/** Sends one request per call and resolves with the response body (after the correlation id). */
class ProbeConnection {
  private pending: Buffer = Buffer.alloc(0);
  private waiter: ((frame: Buffer) => void) | undefined;
  private failure: Error | undefined;
  private failWaiter: ((error: Error) => void) | undefined;

  constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.pending = Buffer.concat([this.pending, chunk]);
      this.drain();
    });
    const fail = (error: Error): void => {
      this.failure ??= error;
      this.failWaiter?.(this.failure);
    };
    socket.on('error', fail);
    socket.on('close', () => fail(new Error('connection closed by the broker')));
  }

  private drain(): void {
    if (this.pending.length < 4) return;
    const size = this.pending.readInt32BE(0);
    if (this.pending.length < 4 + size) return;
    const frame = this.pending.subarray(4, 4 + size);
    this.pending = this.pending.subarray(4 + size);
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(frame);
  }

  call(frame: Buffer, correlationId: number): Promise<Cursor> {
    return new Promise((resolve, reject) => {
      if (this.failure !== undefined) return reject(this.failure);
      this.failWaiter = reject;
      this.waiter = (response) => {
        const cursor = new Cursor(response);
        const got = cursor.int32();
        if (got !== correlationId)
          reject(new Error(`unexpected correlation id ${got}, wanted ${correlationId}`));
        else resolve(cursor);
      };
      this.socket.write(frame);
    });
  }
}

/**
 * Connects to `host:port`, asks for ApiVersions and cluster metadata, and resolves only if the
 * broker answered both without error and lists at least one live broker and a controller.
 * Rejects on any failure or after `timeoutMs`.
 */
export async function probeKafka(host: string, port: number, timeoutMs = 2000): Promise<KafkaProbeResult> {
  const socket = new Socket();
  socket.setNoDelay(true);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer from ${host}:${port} within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([timeout, exchange(socket, host, port)]);
  } finally {
    clearTimeout(timer);
    socket.destroy();
  }
}

async function exchange(socket: Socket, host: string, port: number): Promise<KafkaProbeResult> {
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.connect(port, host, () => {
      socket.off('error', reject);
      resolve();
    });
  });
  const conn = new ProbeConnection(socket);

  const versions = await conn.call(request(API_VERSIONS, 0, 1, Buffer.alloc(0)), 1);
  const versionsError = versions.int16();
  if (versionsError !== 0) throw new Error(`ApiVersions answered error code ${versionsError}`);
  const apiVersions = new Map<number, readonly [number, number]>();
  for (let n = versions.int32(); n > 0; n--) {
    const key = versions.int16();
    apiVersions.set(key, [versions.int16(), versions.int16()]);
  }

  const body = Buffer.alloc(5);
  body.writeInt32BE(0, 0); // no topics: only brokers, cluster id and controller
  body.writeInt8(0, 4); // never auto-create
  const meta = await conn.call(request(METADATA, 4, 2, body), 2);
  meta.int32(); // throttle_time_ms
  const brokers: { nodeId: number; host: string; port: number }[] = [];
  for (let n = meta.int32(); n > 0; n--) {
    const nodeId = meta.int32();
    const brokerHost = meta.nullableString() ?? '';
    const brokerPort = meta.int32();
    meta.nullableString(); // rack
    brokers.push({ nodeId, host: brokerHost, port: brokerPort });
  }
  const clusterId = meta.nullableString();
  const controllerId = meta.int32();
  if (brokers.length === 0) throw new Error('metadata lists no live broker yet');
  if (controllerId < 0) throw new Error('metadata names no active controller yet');
  return { clusterId, controllerId, brokers, apiVersions };
}
