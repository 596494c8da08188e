import { createServer } from 'node:net';

/**
 * Asks the OS for a TCP port that is free right now on every interface (DynamoDB Local
 * binds all of them). Another process may take it before the caller binds it, so
 * callers retry on "address in use".
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen({ port: 0, exclusive: true }, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close((error) => (error ? reject(error) : resolve(port)));
    });
  });
}
