/** Integration (real PTYs from socat, real serialport): bytes written at one end arrive at the other. */
import { mkdtemp, rm, lstat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SerialPort } from 'serialport';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { openPtyPair } from '../src/index.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-pty-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

it('wires two serial devices back to back, and removes them on close', async () => {
  const pty = await openPtyPair(join(dir, 'fw'), join(dir, 'agent'));
  const fw = new SerialPort({ path: pty.a, baudRate: 115200 });
  const agent = new SerialPort({ path: pty.b, baudRate: 115200 });
  const received: Buffer[] = [];
  const got = new Promise<void>((done) =>
    agent.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (Buffer.concat(received).length >= 256) done();
    }),
  );
  await new Promise((done) => fw.on('open', done));
  fw.write(Buffer.from(Array.from({ length: 256 }, (_, i) => i)));
  await got;
  expect([...Buffer.concat(received)]).toEqual(Array.from({ length: 256 }, (_, i) => i));
  await Promise.all([new Promise((d) => fw.close(d)), new Promise((d) => agent.close(d))]);
  await pty.close();
  await expect(lstat(pty.a)).rejects.toThrow();
});
