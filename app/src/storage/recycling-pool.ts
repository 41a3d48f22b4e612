/**
 * The PostgreSQL pool behind the store, replaced as a whole when the database falls silent. A
 * statement the client gave up on (pg's query_timeout) or a connection that never came means the
 * server said nothing at all, not even an error; the pool's other connections are then most likely
 * silent too (a failover, a path that drops packets), and each would cost a later statement its
 * whole deadline once the database is back. So the idle ones go with the old pool, and later
 * statements get new connections.
 */
import type { Pool, QueryResult, QueryResultRow } from 'pg';

/** pg's messages for a server that said nothing within a deadline. */
function isSilence(error: unknown): boolean {
  const message = error instanceof Error ? error.message : '';
  return message === 'Query read timeout' || message === 'timeout exceeded when trying to connect' || message.startsWith('Connection terminated due to connection timeout');
}

export class RecyclingPool {
  private pool: Pool;

  constructor(private readonly newPool: () => Pool) {
    this.pool = newPool();
  }

  async query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    const pool = this.pool;
    try {
      return await pool.query<R>(text, values);
    } catch (error) {
      if (isSilence(error) && this.pool === pool) {
        this.pool = this.newPool();
        // Not awaited: ending waits for statements still out, each bounded by its own deadline.
        pool.end().catch(() => undefined);
      }
      throw error;
    }
  }

  /** Waits for checked-out clients (in-flight queries) to be released, then closes every connection. */
  end(): Promise<void> {
    return this.pool.end();
  }
}
