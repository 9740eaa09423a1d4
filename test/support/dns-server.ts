import { createSocket, type Socket } from 'node:dgram';

/**
 * A customer's DNS, which cannot run here: a UDP DNS server on 127.0.0.1 answering TXT questions
 * from a table the test fills (NXDOMAIN for every other name), for a SigID in another process
 * (`SIGID_DNS_SERVERS`). Enough of RFC 1035 for one question per message.
 */
export class TxtDnsServer {
  readonly records = new Map<string, string[][]>();
  #socket: Socket | undefined;
  port = 0;

  async start(): Promise<this> {
    const socket = createSocket('udp4');
    socket.on('message', (message, peer) => {
      const answer = this.#answer(message);
      if (answer) socket.send(answer, peer.port, peer.address);
    });
    await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
    this.#socket = socket;
    this.port = socket.address().port;
    return this;
  }

  /** `host:port`, as SIGID_DNS_SERVERS takes it. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  #answer(query: Buffer): Buffer | undefined {
    if (query.length < 12) return undefined;
    let at = 12;
    const labels: string[] = [];
    while (at < query.length && query[at] !== 0) {
      const length = query[at] as number;
      labels.push(query.subarray(at + 1, at + 1 + length).toString('latin1'));
      at += 1 + length;
    }
    const questionEnd = at + 5;
    if (questionEnd > query.length) return undefined;
    const type = query.readUInt16BE(at + 1);
    const name = labels.join('.').toLowerCase();
    const found = type === 16 ? this.records.get(name) : undefined;
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    header.writeUInt16BE(found ? 0x8180 : 0x8183, 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(found?.length ?? 0, 6);
    const answers = (found ?? []).map((chunks) => {
      const rdata = Buffer.concat(
        chunks.map((chunk) => Buffer.concat([Buffer.from([chunk.length]), Buffer.from(chunk)])),
      );
      const fixed = Buffer.alloc(12);
      fixed.writeUInt16BE(0xc00c, 0);
      fixed.writeUInt16BE(16, 2);
      fixed.writeUInt16BE(1, 4);
      fixed.writeUInt32BE(60, 6);
      fixed.writeUInt16BE(rdata.length, 10);
      return Buffer.concat([fixed, rdata]);
    });
    return Buffer.concat([header, query.subarray(12, questionEnd), ...answers]);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => (this.#socket ? this.#socket.close(() => resolve()) : resolve()));
  }
}
