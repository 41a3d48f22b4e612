/**
 * Who may use a thread. With sign-in on, a thread belongs to the issuer and subject that created
 * it, looked up in the store, and a thread token counts for nothing; anonymous sockets
 * (development) hold a thread by its token. Also the caller's thread list.
 */
import { type ListThreads, type Threads, THREADS_PAGE_LIMIT } from '../../../common/chat-protocol';
import type { Identity } from '../auth/token-verifier';
import type { Owner, SessionFactory } from '../storage/store';
import type { ThreadTokens } from './thread-tokens';

export function ownerOf(identity: Identity): Owner {
  return { issuer: identity.issuer, subject: identity.subject };
}

function sameOwner(owner: Owner | null | undefined, identity: Identity): boolean {
  return owner != null && owner.issuer === identity.issuer && owner.subject === identity.subject;
}

export class ThreadAccess {
  constructor(
    private readonly tokens: ThreadTokens,
    private readonly sessions: SessionFactory,
  ) {}

  async allowed(threadId: string, threadToken: string | undefined, identity: Identity | undefined): Promise<boolean> {
    if (identity === undefined) return this.tokens.verify(threadId, threadToken);
    return sameOwner(await this.sessions.session().owner(threadId), identity);
  }

  /** One page of the caller's threads, newest first. */
  async list(identity: Identity, { before }: ListThreads): Promise<Threads> {
    // One more than a page, to tell whether anything older is left.
    const rows = await this.sessions.session().threads(ownerOf(identity), THREADS_PAGE_LIMIT + 1, before);
    const page = rows.slice(0, THREADS_PAGE_LIMIT);
    return {
      type: 'threads',
      threads: page.map(({ threadId, updatedAt, preview }) => ({ threadId, updatedAt, preview })),
      nextBefore: rows.length > THREADS_PAGE_LIMIT ? page[page.length - 1]!.cursor : null,
    };
  }
}
