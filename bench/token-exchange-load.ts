/**
 * The load generator of bench/token-exchange.bench.ts, in a process of its own (so the load does not
 * run on the server's event loop): BENCH_LOAD (JSON) names the token endpoint, the agent, its
 * private key and the form body; CONNECTIONS workers each post one request at a time, each with a
 * fresh `private_key_jwt` assertion (single use: the issuer refuses a replayed jti), for SECONDS.
 * Prints `{ok, rate, p99, error}` as JSON. The same generator drives both contenders.
 */
import { randomUUID } from 'node:crypto';
import { importJWK, type JWK, SignJWT } from 'jose';

interface Load {
  url: string;
  audience: string;
  agentId: string;
  kid: string;
  jwk: JWK;
  body: string;
  seconds: number;
  connections: number;
}

const load = JSON.parse(String(process.env.BENCH_LOAD)) as Load;
const key = await importJWK(load.jwk, 'ES256');
const latencies: number[] = [];
let ok = 0;
let error: string | null = null;
const until = Date.now() + load.seconds * 1000;
const started = Date.now();

async function worker(): Promise<void> {
  while (Date.now() < until && error === null) {
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: load.kid })
      .setIssuer(load.agentId)
      .setSubject(load.agentId)
      .setAudience(load.audience)
      .setJti(randomUUID())
      .setIssuedAt()
      .setExpirationTime('60s')
      .sign(key);
    const body = `${load.body}&client_id=${encodeURIComponent(load.agentId)}&client_assertion_type=${encodeURIComponent('urn:ietf:params:oauth:client-assertion-type:jwt-bearer')}&client_assertion=${assertion}`;
    const at = performance.now();
    const response = await fetch(load.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body,
    });
    const text = await response.text();
    if (response.status !== 200) {
      error = `${response.status} ${text.slice(0, 300)}`;
      return;
    }
    latencies.push(performance.now() - at);
    ok++;
  }
}

await Promise.all(Array.from({ length: load.connections }, worker));
latencies.sort((x, y) => x - y);
const seconds = (Date.now() - started) / 1000;
console.log(
  JSON.stringify({
    ok,
    rate: ok / seconds,
    p99: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))] ?? 0,
    error,
  }),
);
