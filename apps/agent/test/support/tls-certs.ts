/**
 * Throwaway TLS material for tests and the agent benchmark, made with the `openssl` CLI at run
 * time (nothing is checked in): a CA, a server certificate it signs for `localhost` and 127.0.0.1,
 * and a second, unrelated CA, the "wrong" one. Each in PEM files under `dir`.
 *
 * `mosquittoTlsListener` gives the lines that add a TLS listener to a Mosquitto configuration
 * (`startMosquitto({ configExtra })`); password file and anonymous access stay global, so they
 * apply to it as to the plain listener.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface TestCertificates {
  /** The CA that signed the server certificate. */
  readonly caFile: string;
  /** A CA that signed nothing the broker has. */
  readonly wrongCaFile: string;
  readonly serverCertFile: string;
  readonly serverKeyFile: string;
}

async function openssl(args: readonly string[]): Promise<void> {
  try {
    await run('openssl', [...args], { timeout: 30_000 });
  } catch (error) {
    throw new Error(
      `openssl ${args[0]} failed (${(error as Error).message}); the tests need the openssl CLI: apt-get install openssl`,
    );
  }
}

async function makeCa(dir: string, name: string): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  await openssl(['genrsa', '-out', key, '2048']);
  await openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    key,
    '-sha256',
    '-days',
    '2',
    '-subj',
    `/CN=${name}`,
    '-out',
    cert,
  ]);
  return { cert, key };
}

export async function makeTestCertificates(dir: string): Promise<TestCertificates> {
  const ca = await makeCa(dir, 'fleet-test-ca');
  const wrong = await makeCa(dir, 'fleet-wrong-ca');
  const serverKeyFile = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const serverCertFile = join(dir, 'server.pem');
  const ext = join(dir, 'server.ext');
  await writeFile(ext, 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  await openssl(['genrsa', '-out', serverKeyFile, '2048']);
  await openssl(['req', '-new', '-key', serverKeyFile, '-subj', '/CN=localhost', '-out', csr]);
  await openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    ca.cert,
    '-CAkey',
    ca.key,
    '-CAcreateserial',
    '-days',
    '2',
    '-sha256',
    '-extfile',
    ext,
    '-out',
    serverCertFile,
  ]);
  return { caFile: ca.cert, wrongCaFile: wrong.cert, serverCertFile, serverKeyFile };
}

/** Mosquitto configuration lines for a TLS listener on 127.0.0.1:`port`. */
export function mosquittoTlsListener(port: number, certs: TestCertificates): string {
  return [
    `listener ${port} 127.0.0.1`,
    `cafile ${certs.caFile}`,
    `certfile ${certs.serverCertFile}`,
    `keyfile ${certs.serverKeyFile}`,
  ].join('\n');
}
