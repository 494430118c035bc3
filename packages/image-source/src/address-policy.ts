import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { ImageSourceError } from './errors';

type IPAddress = ipaddr.IPv4 | ipaddr.IPv6;
type Cidr = [IPAddress, number];

/**
 * Names that reach cloud metadata services. They normally resolve to link-local addresses, which are
 * refused anyway, but some platforms answer them through a resolver-side proxy at another address.
 */
const METADATA_HOSTNAMES = new Set([
  'metadata',
  'metadata.google.internal',
  'metadata.goog',
  'metadata.azure.internal',
  'instance-data',
  'instance-data.ec2.internal',
]);

/** Ranges ipaddr.js calls "unicast" that are still not the public internet (RFC 8215 local NAT64). */
const EXTRA_BLOCKED_CIDRS: Cidr[] = [ipaddr.parseCIDR('64:ff9b:1::/48')];

export interface AddressPolicyOptions {
  /** Turns the guard off: every address is allowed (tests, trusted intranets). */
  allowPrivateNetworks?: boolean;
  /**
   * Exceptions to the guard: host names (`images.intranet`, or `*.intranet` for any subdomain),
   * single IP addresses or CIDR ranges. A listed host name is trusted whatever it resolves to; a
   * listed address or range lets a resolved address in. Public addresses are always allowed.
   */
  allowedHosts?: readonly string[];
}

export function normaliseHostname(hostname: string): string {
  let host = hostname.trim().toLowerCase();
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  if (host.endsWith('.')) host = host.slice(0, -1);
  return host;
}

function toComparable(address: IPAddress): IPAddress {
  return address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress()
    ? (address as ipaddr.IPv6).toIPv4Address()
    : address;
}

function embeddedIPv4(bytes: number[], offset: number): ipaddr.IPv4 {
  return new ipaddr.IPv4(bytes.slice(offset, offset + 4));
}

/**
 * Why an address is not on the public internet, or null when it is. Only ipaddr.js's "unicast"
 * (globally routable) ranges pass; IPv6 forms that embed an IPv4 address (mapped, translated,
 * NAT64, 6to4) are judged by the embedded address; Teredo is refused because its embedded address
 * is obfuscated.
 */
export function blockedRange(address: string | IPAddress): string | null {
  const parsed = toComparable(typeof address === 'string' ? ipaddr.parse(address) : address);
  if (parsed.kind() === 'ipv4') {
    const range = (parsed as ipaddr.IPv4).range();
    return range === 'unicast' ? null : range;
  }
  const v6 = parsed as ipaddr.IPv6;
  const range = v6.range();
  const bytes = v6.toByteArray();
  if (EXTRA_BLOCKED_CIDRS.some((cidr) => cidr[0].kind() === 'ipv6' && v6.match(cidr))) return 'localNat64';
  if (range === 'rfc6052' || range === 'rfc6145') {
    const inner = blockedRange(embeddedIPv4(bytes, 12));
    return inner === null ? null : `${range}(${inner})`;
  }
  if (range === '6to4') {
    const inner = blockedRange(embeddedIPv4(bytes, 2));
    return inner === null ? null : `6to4(${inner})`;
  }
  return range === 'unicast' ? null : range;
}

/**
 * The SSRF guard: which hosts and resolved addresses an outgoing image fetch may connect to. Checked
 * on every connection the HTTP client opens (so after every redirect, and against the address DNS
 * actually returned), not just on the URL the caller gave.
 */
export class AddressPolicy {
  readonly guardEnabled: boolean;
  private readonly hostNames = new Set<string>();
  private readonly hostSuffixes: string[] = [];
  private readonly cidrs: Cidr[] = [];

  constructor(options: AddressPolicyOptions = {}) {
    this.guardEnabled = options.allowPrivateNetworks !== true;
    for (const raw of options.allowedHosts ?? []) {
      const entry = normaliseHostname(raw);
      if (entry === '') throw badEntry(raw);
      if (entry.includes('/')) {
        if (!ipaddr.isValidCIDR(entry)) throw badEntry(raw);
        const [address, bits] = ipaddr.parseCIDR(entry);
        const comparable = toComparable(address);
        // An IPv4-mapped IPv6 range (::ffff:10.0.0.0/104) is matched as the IPv4 range it maps.
        this.cidrs.push([comparable, comparable === address ? bits : Math.max(0, bits - 96)]);
      } else if (isIP(entry) !== 0) {
        const address = toComparable(ipaddr.parse(entry));
        this.cidrs.push([address, address.kind() === 'ipv4' ? 32 : 128]);
      } else if (entry.startsWith('*.') && entry.length > 2) {
        this.hostSuffixes.push(entry.slice(1));
      } else if (/^[a-z0-9_.-]+$/.test(entry)) {
        this.hostNames.add(entry);
      } else {
        throw badEntry(raw);
      }
    }
  }

  /** True when the host name itself is on the allowlist (or the guard is off). */
  isHostAllowlisted(hostname: string): boolean {
    if (!this.guardEnabled) return true;
    const host = normaliseHostname(hostname);
    return this.hostNames.has(host) || this.hostSuffixes.some((suffix) => host.endsWith(suffix));
  }

  /** Why a resolved address may not be connected to, or null when it may. */
  refusalFor(address: string): string | null {
    if (!this.guardEnabled) return null;
    if (isIP(address) === 0) return 'not an IP address';
    const parsed = toComparable(ipaddr.parse(address));
    if (this.cidrs.some((cidr) => cidr[0].kind() === parsed.kind() && parsed.match(cidr))) return null;
    return blockedRange(parsed);
  }

  /**
   * Checks a host before anything is resolved or connected: literal IPs by address, names against
   * the metadata-service list. Throws SOURCE_BLOCKED_ADDRESS.
   */
  assertHostAllowed(hostname: string): void {
    const host = normaliseHostname(hostname);
    if (this.isHostAllowlisted(host)) return;
    if (isIP(host) !== 0) {
      this.assertAddressAllowed(host, host);
      return;
    }
    if (METADATA_HOSTNAMES.has(host)) {
      throw new ImageSourceError(
        'SOURCE_BLOCKED_ADDRESS',
        `Refusing to fetch from ${host}: metadata service`,
        {
          details: { host, reason: 'metadata' },
        },
      );
    }
  }

  assertAddressAllowed(host: string, address: string): void {
    const reason = this.refusalFor(address);
    if (reason === null) return;
    const shown = host === address ? address : `${host} (${address})`;
    throw new ImageSourceError(
      'SOURCE_BLOCKED_ADDRESS',
      `Refusing to fetch from ${shown}: ${reason} address`,
      {
        details: { host, address, reason },
      },
    );
  }
}

function badEntry(raw: string): ImageSourceError {
  return new ImageSourceError(
    'SOURCE_BAD_OPTIONS',
    `allowedHosts: not a host name, IP address or CIDR: ${raw}`,
  );
}
