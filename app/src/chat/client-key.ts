/**
 * The key a client's limits are counted under. One IPv6 host usually holds a whole /64 (SLAAC,
 * privacy addresses), so keying on the full address let one machine pose as thousands of
 * clients: IPv6 addresses are keyed on their /64 prefix. IPv4-mapped IPv6 (::ffff:a.b.c.d) is the
 * IPv4 address it maps.
 */
import { isIPv4, isIPv6 } from 'node:net';

export function clientKey(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped !== null) return mapped[1]!;
  if (isIPv4(address) || !isIPv6(address)) return address;
  return `${expandIPv6(address).slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, lower-case hex without leading zeros. */
function expandIPv6(address: string): string[] {
  const plain = address.replace(/%.*$/, '').toLowerCase();
  const [head = '', tail] = plain.split('::') as [string, string | undefined];
  const groups = (part: string) => (part === '' ? [] : part.split(':').flatMap((group) => (group.includes('.') ? ipv4Groups(group) : [group])));
  const left = groups(head);
  const right = tail === undefined ? [] : groups(tail);
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => '0');
  return [...left, ...zeros, ...right].map((group) => Number.parseInt(group, 16).toString(16));
}

/** An embedded IPv4 tail (::1.2.3.4) as its two groups. */
function ipv4Groups(dotted: string): string[] {
  const [a, b, c, d] = dotted.split('.').map(Number) as [number, number, number, number];
  return [((a << 8) | b).toString(16), ((c << 8) | d).toString(16)];
}
