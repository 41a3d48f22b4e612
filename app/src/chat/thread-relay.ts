/**
 * Carries a thread's messages to sockets on other instances. Session affinity on Cloud Run is best
 * effort, so the socket following a thread may sit on another instance than the run producing its
 * events. The instance running the agent delivers to its own sockets directly and publishes on
 * the thread's channel; an instance subscribes to a thread's channel while one of its sockets
 * follows the thread, and drops what it published itself. With the embedded cache the channel
 * stays inside the process, so only local delivery happens.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from '../../../common/log';
import type { CacheClient } from '../storage/cache';
import { describeError } from '../errors';
import type { WebSocketManager } from './websocket-manager';
import type { ThreadMessage } from './websocket-bridge';

interface Envelope {
  origin: string;
  message: ThreadMessage;
}

export function threadChannel(threadId: string): string {
  return `chat:thread:${threadId}`;
}

/** The message inside a publication from another instance, or undefined for one's own or a malformed one. */
export function decodeEnvelope(payload: string, self: string): ThreadMessage | undefined {
  try {
    const envelope = JSON.parse(payload) as Partial<Envelope>;
    if (envelope.origin === self || typeof envelope.message?.threadId !== 'string') return undefined;
    return envelope.message;
  } catch {
    return undefined;
  }
}

export class ThreadRelay {
  /** Subscriptions by thread; a pending one is shared by everyone waiting for it. */
  private readonly watched = new Map<string, Promise<void>>();

  constructor(
    private readonly cache: CacheClient,
    private readonly manager: WebSocketManager,
    private readonly log: Logger,
    readonly instanceId: string = randomUUID(),
  ) {
    cache.onMessage((_channel, payload) => {
      const message = decodeEnvelope(payload, this.instanceId);
      if (message !== undefined) manager.deliver(message.threadId, message);
    });
  }

  /**
   * Publishes without making the run wait: the local sockets already have the message, and a
   * remote one that misses it (the cache is away) finds the stored reply in the thread's history.
   */
  publish(message: ThreadMessage): void {
    const envelope: Envelope = { origin: this.instanceId, message };
    this.cache.publish(threadChannel(message.threadId), JSON.stringify(envelope)).catch((error: unknown) => {
      this.log.warn({ threadId: message.threadId }, `publishing to other instances failed: ${describeError(error)}`);
    });
  }

  /** Resolves once messages published for the thread by other instances reach this one. */
  watch(threadId: string): Promise<void> {
    let subscribed = this.watched.get(threadId);
    if (subscribed === undefined) {
      subscribed = this.cache.subscribe(threadChannel(threadId));
      this.watched.set(threadId, subscribed);
      // A failed subscription is forgotten, so the next follower tries again.
      subscribed.catch(() => this.watched.delete(threadId));
    }
    return subscribed;
  }

  /** Called when no socket of this instance follows the thread any more. */
  unwatch(threadId: string): void {
    if (!this.watched.delete(threadId)) return;
    this.cache.unsubscribe(threadChannel(threadId)).catch((error: unknown) => {
      this.log.warn({ threadId }, `unsubscribing failed: ${describeError(error)}`);
    });
  }
}
