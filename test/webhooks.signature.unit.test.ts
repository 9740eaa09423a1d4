import { Webhook, WebhookVerificationError } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { generateSecret, SECRET_PREFIX, secretKey, sign, signedHeaders, verify } from '../src/webhooks/signature.ts';

const now = () => Math.floor(Date.now() / 1000);

describe('webhook signatures (Standard Webhooks)', () => {
  it('matches the signature in the Standard Webhooks specification', () => {
    const key = secretKey('whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    expect(sign([key], 'msg_p5jXN8AQM9LWM0D4loKWxJek', 1614265330, '{"test": 2432232314}')).toBe(
      'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=',
    );
  });

  it('makes whsec_ secrets of 32 random bytes, each different', () => {
    const a = generateSecret();
    const b = generateSecret();
    expect(a.startsWith(SECRET_PREFIX)).toBe(true);
    expect(Buffer.from(a.slice(SECRET_PREFIX.length), 'base64')).toHaveLength(32);
    expect(a).not.toBe(b);
  });

  it('signs so that the standardwebhooks library verifies and returns the payload', () => {
    const secret = generateSecret();
    const body = JSON.stringify({ type: 'webhook.endpoint.created', timestamp: new Date().toISOString(), data: {} });
    const headers = signedHeaders([secretKey(secret)], 'evt_1', now(), body);
    expect(new Webhook(secret).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('signs with every secret during a rotation overlap, so a receiver holding either one verifies', () => {
    const current = generateSecret();
    const previous = generateSecret();
    const body = '{"type":"x.y","timestamp":"2026-01-01T00:00:00.000Z","data":{"n":1}}';
    const headers = signedHeaders([secretKey(current), secretKey(previous)], 'evt_2', now(), body);
    expect(headers['webhook-signature'].split(' ')).toHaveLength(2);
    expect(new Webhook(current).verify(body, { ...headers })).toBeTruthy();
    expect(new Webhook(previous).verify(body, { ...headers })).toBeTruthy();
    expect(() => new Webhook(generateSecret()).verify(body, { ...headers })).toThrow(WebhookVerificationError);
  });

  it('is refused by the receiver when the body, the id or the timestamp was altered', () => {
    const secret = generateSecret();
    const body = '{"type":"a.b","timestamp":"2026-01-01T00:00:00.000Z","data":{"amount":1}}';
    const headers = signedHeaders([secretKey(secret)], 'evt_3', now(), body);
    const receiver = new Webhook(secret);
    expect(() => receiver.verify(body.replace('1', '2'), { ...headers })).toThrow(WebhookVerificationError);
    expect(() => receiver.verify(body, { ...headers, 'webhook-id': 'evt_4' })).toThrow(WebhookVerificationError);
    expect(() => receiver.verify(body, { ...headers, 'webhook-timestamp': String(now() - 1) })).toThrow(
      WebhookVerificationError,
    );
  });

  it('refuses secrets that are not whsec_ + base64 of 24 to 64 bytes', () => {
    expect(() => secretKey('MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw')).toThrow(/whsec_/);
    expect(() => secretKey(`whsec_${Buffer.alloc(16).toString('base64')}`)).toThrow(/24 to 64/);
    expect(() => secretKey('whsec_not base64!')).toThrow(/base64/);
  });

  it("SigID's own verifier agrees, and refuses a delivery older than the tolerance", () => {
    const secret = generateSecret();
    const body = '{"a":1}';
    const fresh = signedHeaders([secretKey(secret)], 'evt_5', now(), body);
    expect(verify(secret, { ...fresh }, body)).toBe(true);
    expect(verify(secret, { ...fresh }, '{"a":2}')).toBe(false);
    const stale = signedHeaders([secretKey(secret)], 'evt_5', now() - 600, body);
    expect(verify(secret, { ...stale }, body)).toBe(false);
  });
});
