/**
 * The operations endpoint every cloud process serves (gateway, stream instances):
 *   GET /metrics  Prometheus text format, from the process's own registry
 *   GET /healthz  200 while the process runs (liveness)
 *   GET /readyz   200 when every readiness check (PostgreSQL, Kafka or the log, ...) answered
 *                 within 2 s, 503 naming what failed otherwise (take the instance out of rotation)
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export type ReadinessCheck = () => Promise<void>;

export interface OpsServer {
  readonly port: number;
  close(): Promise<void>;
}

async function withTimeout(check: ReadinessCheck, ms: number): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      check(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  } finally {
    clearTimeout(timer);
  }
}

export async function startOpsServer(options: {
  readonly host: string;
  readonly port: number;
  readonly registry: Registry;
  readonly checks: Readonly<Record<string, ReadinessCheck>>;
}): Promise<OpsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET') {
      res.writeHead(405, { allow: 'GET' }).end();
      return;
    }
    if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': options.registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}\n');
      return;
    }
    if (path === '/readyz') {
      const names = Object.keys(options.checks);
      Promise.all(names.map((name) => withTimeout(options.checks[name] as ReadinessCheck, 2000))).then(
        (failures) => {
          const checks = Object.fromEntries(names.map((name, i) => [name, failures[i] ?? 'ok']));
          const ready = failures.every((f) => f === undefined);
          res
            .writeHead(ready ? 200 : 503, { 'content-type': 'application/json' })
            .end(`${JSON.stringify({ status: ready ? 'ready' : 'not ready', checks })}\n`);
        },
      );
      return;
    }
    res.writeHead(404).end('not found: try /metrics, /healthz, /readyz\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
