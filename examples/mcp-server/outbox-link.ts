/**
 * The newest link in SigID's e-mail outbox (`.eml` files, quoted-printable) to an address whose URL
 * contains a path: what a developer without SMTP clicks (docs/agents.md walkthrough).
 *
 *   node examples/mcp-server/outbox-link.ts ada@example.com /approvals/ [data/outbox]
 */
import { linkInOutbox } from '../../test/support/hosted-flow.ts';

const [to, path, outbox = 'data/outbox'] = process.argv.slice(2);
if (!to || !path) throw new Error('usage: outbox-link.ts <address> <path> [outbox directory]');
console.log(await linkInOutbox(outbox, to, path));
