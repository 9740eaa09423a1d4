import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { type ParsedMail, simpleParser } from 'mailparser';
import { SMTPServer } from 'smtp-server';

/** How the peer answers RCPT TO for an address: accept, or refuse with an SMTP code, after a delay. */
export type Answer = { code: number; delayMs?: number } | { accept: true; delayMs?: number };

/**
 * A real SMTP server (smtp-server, the one nodemailer's author keeps) on 127.0.0.1, standing in for a
 * mail relay: it keeps what it receives, parsed with mailparser, and answers each recipient as
 * `answer` says. `hang()` swaps it for a peer that accepts connections and never greets.
 */
export class SmtpPeer {
  readonly received: ParsedMail[] = [];
  /** Every RCPT TO seen, in order, accepted or not. */
  readonly recipients: string[] = [];
  port = 0;
  answer: (address: string) => Answer = () => ({ accept: true });
  #server: SMTPServer | undefined;
  #hanging: { server: Server; sockets: Set<Socket> } | undefined;

  get url(): string {
    return `smtp://127.0.0.1:${this.port}`;
  }

  async start(): Promise<this> {
    const server = new SMTPServer({
      authOptional: true,
      disabledCommands: ['STARTTLS', 'AUTH'],
      logger: false,
      closeTimeout: 200,
      onRcptTo: (address, _session, callback) => {
        this.recipients.push(address.address);
        const answer = this.answer(address.address);
        setTimeout(() => {
          if ('accept' in answer) return callback();
          callback(Object.assign(new Error(`refused with ${answer.code}`), { responseCode: answer.code }));
        }, answer.delayMs ?? 0);
      },
      onData: (stream, _session, callback) => {
        simpleParser(stream).then(
          (mail) => {
            this.received.push(mail);
            callback();
          },
          (error: Error) => callback(error),
        );
      },
    });
    server.on('error', () => {});
    server.listen(this.port, '127.0.0.1');
    await once(server.server, 'listening');
    this.port = (server.server.address() as { port: number }).port;
    this.#server = server;
    return this;
  }

  /** Stops answering: the port refuses connections. */
  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    const hanging = this.#hanging;
    this.#hanging = undefined;
    if (hanging) {
      for (const socket of hanging.sockets) socket.destroy();
      await new Promise<void>((resolve) => hanging.server.close(() => resolve()));
    }
  }

  /** On the same port, a server that accepts connections and says nothing, ever. */
  async hang(): Promise<{ connections: () => number }> {
    await this.stop();
    const sockets = new Set<Socket>();
    let connections = 0;
    const server = createServer((socket) => {
      connections++;
      sockets.add(socket);
      socket.on('error', () => {});
      socket.on('close', () => sockets.delete(socket));
    });
    server.listen(this.port, '127.0.0.1');
    await once(server, 'listening');
    this.#hanging = { server, sockets };
    return { connections: () => connections };
  }

  /** The messages received for `address`. */
  to(address: string): ParsedMail[] {
    return this.received.filter((mail) =>
      [mail.to ?? []].flat().some((field) => field.value.some((value) => value.address === address)),
    );
  }
}
