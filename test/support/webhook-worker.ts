/**
 * A SigID worker process for the kill-and-restart test: connects to DATABASE_URL, runs the
 * projections and the webhook worker, prints `ready`, and runs until it is killed.
 */
import pino from 'pino';
import { loadConfig } from '../../src/config.ts';
import { createSigid } from '../../src/sigid.ts';

const sigid = await createSigid(loadConfig(process.env, { logLevel: 'silent' }), { logger: pino({ level: 'silent' }) });
sigid.start();
process.stdout.write('ready\n');
setInterval(() => {}, 60_000);
