/**
 * Thread ownership. The server mints every thread id, and with it a token: an HMAC of the id under
 * a key every instance shares (Secret Manager in the stacks). Any instance can check a token
 * without a lookup; holding it is what makes a client the thread's owner.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

export class ThreadTokens {
  constructor(private readonly key: Buffer) {}

  mint(threadId: string): string {
    return createHmac('sha256', this.key).update(threadId).digest('base64url');
  }

  verify(threadId: string, token: string | undefined): boolean {
    if (token === undefined) return false;
    const expected = Buffer.from(this.mint(threadId));
    const given = Buffer.from(token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }
}
