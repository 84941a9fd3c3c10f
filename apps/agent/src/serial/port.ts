/**
 * The serial device behind a small interface: open with handlers, write, close. `openSerialPort`
 * uses `serialport`; tests of the layers above pass their own opener.
 */
import { SerialPort } from 'serialport';
import { AgentError, AgentErrorCode, errorMessage } from '../errors.js';

export interface SerialHandlers {
  /** Bytes exactly as the device delivered them. */
  onData(chunk: Uint8Array): void;
  /** The device closed by itself (unplugged, I/O error), not by `close()`. */
  onLost(error: Error | undefined): void;
}

export interface SerialLink {
  /** Resolves once the bytes are handed to the device (drained). */
  write(bytes: Uint8Array): Promise<void>;
  close(): Promise<void>;
}

export type OpenSerial = (path: string, baudRate: number, handlers: SerialHandlers) => Promise<SerialLink>;

/** Opens `path` in raw 8N1 mode. Throws AgentError SERIAL_OPEN (retriable) when it cannot. */
export const openSerialPort: OpenSerial = (path, baudRate, handlers) =>
  new Promise((resolve, reject) => {
    const port = new SerialPort({ path, baudRate, autoOpen: false });
    let closing = false;
    port.on('data', (chunk: Buffer) => handlers.onData(chunk));
    port.on('error', () => {
      // Errors also arrive as 'close' (with the error) or as the callback of the failing call.
    });
    port.on('close', (error: Error | null | undefined) => {
      if (!closing) handlers.onLost(error ?? undefined);
    });
    port.open((error) => {
      if (error) {
        reject(
          new AgentError(
            AgentErrorCode.SERIAL_OPEN,
            `cannot open serial device ${path}: ${error.message}`,
            { path },
            {
              cause: error,
            },
          ),
        );
        return;
      }
      resolve({
        write: (bytes) =>
          new Promise<void>((done, fail) => {
            port.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), (e) => {
              if (e) return fail(ioError(path, e));
              port.drain((e2) => (e2 ? fail(ioError(path, e2)) : done()));
            });
          }),
        close: () =>
          new Promise<void>((done) => {
            closing = true;
            if (!port.isOpen) return done();
            port.close(() => done());
          }),
      });
    });
  });

function ioError(path: string, e: unknown): AgentError {
  return new AgentError(
    AgentErrorCode.SERIAL_IO,
    `write to ${path} failed: ${errorMessage(e)}`,
    { path },
    { cause: e },
  );
}
