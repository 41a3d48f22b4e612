/** Whether a host name or address is this machine's loopback, as a config value or a socket's remote address. */
import { isIP } from 'node:net';

/** `localhost`, 127.0.0.0/8 (also IPv4-mapped, as a dual-stack socket reports it) or ::1. */
export function isLoopback(host: string | undefined): boolean {
  if (host === undefined) return false;
  const v4 = host.replace(/^::ffff:/i, '');
  return host === 'localhost' || host === '::1' || (isIP(v4) === 4 && v4.startsWith('127.'));
}
