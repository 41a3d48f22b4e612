/**
 * Sign-in on one chat socket. A browser cannot set headers on a WebSocket upgrade and a token in
 * the URL lands in access logs, so the token arrives in the first frame (`authenticate`), or in
 * `Authorization: Bearer` on the upgrade from other clients (verified before the upgrade). Until
 * then every other frame, and silence past AUTHENTICATE_WITHIN_MS, closes the socket with 4401.
 * Signed in, the socket is warned about a minute before the token expires; a fresh token for the
 * same subject extends it, another subject's closes it, and at expiry (plus the clock tolerance)
 * the socket closes with 4401 `token expired`, after the runs it started have finished and been
 * stored. Without an issuer (development) sockets are anonymous and this admits every frame.
 */
import type { Logger } from '../../../common/log';
import { type ErrorMessage, type ParsedClientMessage, type ServerMessage, TOKEN_EXPIRED_REASON, UNAUTHENTICATED_CLOSE_CODE } from '../../../common/chat-protocol';
import type { Authentication } from './authentication';
import { subjectHash } from './subject-hash';
import type { Identity } from './token-verifier';

const AUTHENTICATE_WITHIN_MS = 10_000;
/** How long before `exp` the socket is told to refresh. */
const EXPIRY_WARNING_MS = 60_000;
/** 1013 (try again later): the identity provider could not be asked; the token may be fine. */
export const PROVIDER_UNAVAILABLE_CLOSE = { code: 1013, reason: 'identity provider unavailable' } as const;
/** setTimeout's longest delay; a later deadline is re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export interface SocketAuthOptions {
  authentication: Authentication;
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
  /** The per-address limit, in front of every verification: an error when the address is past it. */
  rateLimit(): Promise<ErrorMessage | undefined>;
  log: Logger;
  now?: () => number;
}

type State = { kind: 'anonymous' } | { kind: 'waiting' } | { kind: 'signed-in'; identity: Identity } | { kind: 'expired'; identity: Identity } | { kind: 'closed' };

export class SocketAuth {
  private state: State;
  private timers: NodeJS.Timeout[] = [];
  private readonly runs = new Set<Promise<unknown>>();
  private readonly now: () => number;

  constructor(private readonly options: SocketAuthOptions) {
    this.now = options.now ?? Date.now;
    this.state = options.authentication.kind === 'anonymous' ? { kind: 'anonymous' } : { kind: 'waiting' };
  }

  /** The signed-in person, or undefined (anonymous, or not signed in yet). */
  get identity(): Identity | undefined {
    return this.state.kind === 'signed-in' ? this.state.identity : undefined;
  }

  /** Starts the clock on a new socket; `identity` when an `Authorization: Bearer` upgrade was verified. */
  start(identity?: Identity): void {
    if (this.state.kind === 'anonymous') return;
    if (identity !== undefined) return this.signIn(identity);
    this.arm(this.now() + AUTHENTICATE_WITHIN_MS, () => this.refuse(`no authenticate frame within ${AUTHENTICATE_WITHIN_MS / 1000} s`));
  }

  /** Counts a run this socket started: an expired socket closes only once its runs are done. */
  track(run: Promise<unknown>): void {
    this.runs.add(run);
    void run.finally(() => this.runs.delete(run));
  }

  /**
   * Takes the frames that are about sign-in: `authenticate`, and anything before a successful
   * one. Returns true when it handled the frame; false when the chat service should serve it.
   */
  async intercept(parsed: ParsedClientMessage | undefined): Promise<boolean> {
    const message = parsed?.ok === true ? parsed.message : undefined;
    if (this.state.kind === 'closed') return true;
    if (this.state.kind === 'anonymous') {
      if (message?.type !== 'authenticate') return false;
      this.options.send({ type: 'error', code: 'invalid_message', message: 'sign-in is off on this server (development): send messages without authenticate' });
      return true;
    }
    if (message?.type === 'authenticate') {
      await this.authenticate(message.token);
      return true;
    }
    if (this.state.kind === 'waiting') {
      this.refuse('send {"type":"authenticate","token":"<JWT>"} first');
      return true;
    }
    if (this.state.kind === 'expired') {
      this.options.send(unauthenticated('the token has expired: send a fresh authenticate'));
      return true;
    }
    return false;
  }

  /** Stops the timers: the socket closed. */
  dispose(): void {
    this.state = { kind: 'closed' };
    this.disarm();
  }

  private async authenticate(token: string): Promise<void> {
    const { authentication } = this.options;
    if (authentication.kind !== 'verified') return;
    const limited = await this.options.rateLimit();
    if (limited !== undefined) {
      this.options.send(limited);
      if (this.state.kind === 'waiting') this.close(UNAUTHENTICATED_CLOSE_CODE, 'unauthenticated');
      return;
    }
    const result = await authentication.verifier.verify(token);
    if (this.state.kind === 'closed') return;
    if (!result.ok) {
      if (result.unavailable) {
        this.options.log.warn({}, `authenticate: ${result.reason}`);
        this.options.send({ type: 'error', code: 'unavailable', message: result.reason });
        return this.close(PROVIDER_UNAVAILABLE_CLOSE.code, PROVIDER_UNAVAILABLE_CLOSE.reason);
      }
      return this.refuse(result.reason);
    }
    const current = this.state.kind === 'signed-in' || this.state.kind === 'expired' ? this.state.identity : undefined;
    if (current !== undefined && current.subject !== result.identity.subject) return this.refuse('a socket stays signed in as one subject; open a new socket for another');
    this.signIn(result.identity);
  }

  private signIn(identity: Identity): void {
    this.disarm();
    this.state = { kind: 'signed-in', identity };
    this.options.log.debug({ subject: subjectHash(identity), expiresAt: identity.expiresAt }, 'socket signed in');
    this.options.send({ type: 'authenticated', subject: identity.subject, expiresAt: identity.expiresAt });
    const toleranceMs = this.options.authentication.kind === 'verified' ? this.options.authentication.verifier.settings.clockToleranceS * 1000 : 0;
    this.arm(identity.expiresAt - EXPIRY_WARNING_MS, () => this.options.send({ type: 'token_expiring', expiresAt: identity.expiresAt }));
    this.arm(identity.expiresAt + toleranceMs, () => void this.expire(identity));
  }

  private async expire(identity: Identity): Promise<void> {
    this.state = { kind: 'expired', identity };
    // Runs started before expiry finish and are stored; a refresh meanwhile keeps the socket.
    while (this.runs.size > 0) await Promise.allSettled([...this.runs]);
    if (this.state.kind !== 'expired') return;
    this.options.send(unauthenticated('the token has expired'));
    this.close(UNAUTHENTICATED_CLOSE_CODE, TOKEN_EXPIRED_REASON);
  }

  private refuse(reason: string): void {
    this.options.log.info({}, `socket refused: ${reason}`);
    this.options.send(unauthenticated(reason));
    this.close(UNAUTHENTICATED_CLOSE_CODE, 'unauthenticated');
  }

  private close(code: number, reason: string): void {
    this.dispose();
    this.options.close(code, reason);
  }

  /** Runs `action` at `at` (ms since the epoch), at once when that has passed. */
  private arm(at: number, action: () => void): void {
    const delay = at - this.now();
    const timer = setTimeout(() => (delay > MAX_TIMER_MS ? this.arm(at, action) : action()), Math.max(0, Math.min(delay, MAX_TIMER_MS)));
    timer.unref();
    this.timers.push(timer);
  }

  private disarm(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
  }
}

function unauthenticated(message: string): ErrorMessage {
  return { type: 'error', code: 'unauthenticated', message };
}
