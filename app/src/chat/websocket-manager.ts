/** Open client connections and the threads they follow. Delivery is by thread id. */
import type { ServerMessage } from '../../../common/chat-protocol';

/** One client connection: a real WebSocket, or the loopback sink of the startup self-test. */
export interface ClientSink {
  readonly id: string;
  send(message: ServerMessage): void;
  close(code: number, reason: string): void;
}

export class WebSocketManager {
  private readonly sinks = new Map<string, ClientSink>();
  private readonly followers = new Map<string, Set<string>>();
  private readonly followed = new Map<string, Set<string>>();

  get size(): number {
    return this.sinks.size;
  }

  add(sink: ClientSink): void {
    this.sinks.set(sink.id, sink);
  }

  /** Forgets a connection; returns the threads that no connection follows any more. */
  remove(sinkId: string): string[] {
    this.sinks.delete(sinkId);
    const orphaned: string[] = [];
    for (const threadId of this.followed.get(sinkId) ?? []) {
      const followers = this.followers.get(threadId);
      followers?.delete(sinkId);
      if (followers?.size === 0) {
        this.followers.delete(threadId);
        orphaned.push(threadId);
      }
    }
    this.followed.delete(sinkId);
    return orphaned;
  }

  /** Returns false, following nothing new, when the connection already follows `maxThreads` other threads. */
  follow(sinkId: string, threadId: string, maxThreads = Infinity): boolean {
    if (!this.sinks.has(sinkId)) throw new Error(`connection ${sinkId} is not registered`);
    const followed = this.followed.get(sinkId);
    if (followed !== undefined && !followed.has(threadId) && followed.size >= maxThreads) return false;
    let followers = this.followers.get(threadId);
    if (followers === undefined) this.followers.set(threadId, (followers = new Set()));
    followers.add(sinkId);
    let threads = this.followed.get(sinkId);
    if (threads === undefined) this.followed.set(sinkId, (threads = new Set()));
    threads.add(threadId);
    return true;
  }

  /** Sends a message to every connection following its thread; returns how many received it. */
  deliver(threadId: string, message: ServerMessage): number {
    let delivered = 0;
    for (const sinkId of this.followers.get(threadId) ?? []) {
      this.sinks.get(sinkId)?.send(message);
      delivered += 1;
    }
    return delivered;
  }

  closeAll(code: number, reason: string): void {
    for (const sink of [...this.sinks.values()]) sink.close(code, reason);
  }
}
