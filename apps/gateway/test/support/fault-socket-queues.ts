/**
 * What the kernel holds of the TCP connections to a local server: bytes clients have written that
 * the server process has not read yet. Read from /proc/net/tcp (Linux, IPv4 loopback), which lists
 * every socket of the network namespace with its queues:
 *
 *   sl  local_address rem_address   st tx_queue rx_queue ...
 *   0:  0100007F:0E62 0100007F:A1B2 01 00000000:00000200 ...
 *
 * (addresses as hex IP:port, st 01 = ESTABLISHED, tx_queue = sent but not acknowledged by the
 * peer's kernel, rx_queue = received but not read by the application). For a connection to `port`,
 * the client socket's tx_queue plus the server socket's rx_queue is what the server has not read.
 *
 * A server that stops reading its sockets (backpressure) leaves its clients' data here; one that
 * keeps reading takes it into its own memory. Comparing what the clients handed to the kernel with
 * what is still queued tells which.
 */
import { readFile } from 'node:fs/promises';

const ESTABLISHED = '01';

export interface QueuedBytes {
  /** Client sockets (remote port = `port`): bytes written, not yet taken by the server's kernel. */
  readonly clientSendQ: number;
  /** Server sockets (local port = `port`): bytes received, not yet read by the server process. */
  readonly serverRecvQ: number;
  readonly connections: number;
}

/** Queued bytes of the established IPv4 connections to `port` on this host. */
export async function queuedBytes(port: number): Promise<QueuedBytes> {
  const text = await readFile('/proc/net/tcp', 'utf8');
  let clientSendQ = 0;
  let serverRecvQ = 0;
  let connections = 0;
  for (const line of text.split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    const [, local, remote, state, queues] = fields;
    if (local === undefined || remote === undefined || queues === undefined || state !== ESTABLISHED)
      continue;
    const localPort = Number.parseInt(local.split(':')[1] ?? '', 16);
    const remotePort = Number.parseInt(remote.split(':')[1] ?? '', 16);
    const [tx, rx] = queues.split(':').map((q) => Number.parseInt(q, 16));
    if (remotePort === port) clientSendQ += tx ?? 0;
    if (localPort === port) {
      serverRecvQ += rx ?? 0;
      connections++;
    }
  }
  return { clientSendQ, serverRecvQ, connections };
}
