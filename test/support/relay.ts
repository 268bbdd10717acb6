// A TCP relay in front of a loopback port that a test can cut and restore on the same port: how
// the e2e tests make a member cluster unreachable and reachable again without touching it.
import net from 'node:net';

export class Relay {
  private server?: net.Server;
  private sockets = new Set<net.Socket>();
  port = 0;
  constructor(private readonly target: number) {}

  async open(): Promise<void> {
    if (this.server) return;
    const server = net.createServer(client => {
      const upstream = net.connect(this.target, '127.0.0.1');
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => s.destroy());
      }
      client.pipe(upstream).pipe(client);
    });
    await new Promise<void>((ok, fail) => {
      server.once('error', fail);
      server.listen(this.port, '127.0.0.1', () => ok());
    });
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  async cut(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>(ok => (this.server ? this.server.close(() => ok()) : ok()));
    this.server = undefined;
  }
}
