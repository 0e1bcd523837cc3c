import * as net from 'node:net';

/** A TCP port on 127.0.0.1 that nothing listens on right now: bound once to learn it, then closed. */
export const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
