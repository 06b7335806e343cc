/**
 * CIDR matching for the override trust list, IPv4 and IPv6, on node:net's BlockList. Pure, no I/O.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, what a dual-stack listener reports for IPv4 clients)
 * are the IPv4 address they carry, on both sides: `127.0.0.0/8` trusts `::ffff:127.0.0.1`, and
 * `::ffff:10.0.0.0/104` is the same network as `10.0.0.0/8`. They belong to the IPv4 networks only: `::/0`
 * trusts every IPv6 client but no IPv4 one. Zone ids (`fe80::1%eth0`) and brackets are ignored.
 */
import { BlockList, isIPv4, isIPv6 } from "node:net";

export interface Network {
  /** As written in the configuration. */
  readonly text: string;
  /** The address part, zone id removed. */
  readonly address: string;
  readonly family: "ipv4" | "ipv6";
  readonly prefixLength: number;
  /** An IPv4 network, written as such or as IPv4-mapped IPv6 (with a prefix of /96 or longer). */
  readonly carriesIpv4: boolean;
}

const MAPPED_IPV4 = new BlockList();
MAPPED_IPV4.addSubnet("::ffff:0:0", 96, "ipv6");

function withoutZone(address: string): string {
  return address.replace(/%.*$/, "");
}

/** The bytes of an address (for the host-bits check only): IPv6 from the URL parser's canonical form. */
function addressBytes(address: string, family: "ipv4" | "ipv6"): Uint8Array {
  if (family === "ipv4") return Uint8Array.from(address.split(".").map(Number));
  // Canonical: lower-case hex groups (an embedded IPv4 tail becomes two groups), at most one "::".
  const [head = "", tail] = new URL(`http://[${address}]`).hostname.slice(1, -1).split("::");
  const left = head === "" ? [] : head.split(":");
  const right = tail === undefined || tail === "" ? [] : tail.split(":");
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill("0"), ...right];
  return Uint8Array.from(groups.flatMap((group) => [parseInt(group, 16) >> 8, parseInt(group, 16) & 0xff]));
}

function hostBitsSet(bytes: Uint8Array, prefixLength: number): boolean {
  for (let bit = prefixLength; bit < bytes.length * 8; bit++) if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return true;
  return false;
}

/**
 * Parses `address/prefix` (or a bare address: a single host). Returns the network or a reason it is not
 * one. Host bits below the prefix must be zero (`10.0.0.1/8` is refused: it is almost always a typo).
 */
export function parseNetwork(text: string): Network | string {
  if (typeof text !== "string" || text.trim() === "") return "must be an IPv4 or IPv6 address or CIDR network";
  const [addressText = "", prefixText, extra] = text.trim().split("/");
  if (extra !== undefined) return `"${text}" is not a CIDR network`;
  const address = withoutZone(addressText);
  const family = isIPv4(address) ? "ipv4" : isIPv6(address) ? "ipv6" : undefined;
  if (family === undefined) return `"${text}" is not an IPv4 or IPv6 address`;
  const bits = family === "ipv4" ? 32 : 128;
  let prefixLength = bits;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > bits) return `"${text}": the prefix length must be 0-${bits}`;
    prefixLength = Number(prefixText);
  }
  if (hostBitsSet(addressBytes(address, family), prefixLength))
    return `"${text}" has host bits set below its /${prefixText ?? bits} prefix`;
  const carriesIpv4 = family === "ipv4" || (prefixLength >= 96 && MAPPED_IPV4.check(address, "ipv6"));
  return Object.freeze({ text, address, family, prefixLength, carriesIpv4 });
}

/** A parsed list of networks; `matches` answers whether an address falls in any of them. */
export class NetworkList {
  readonly networks: readonly Network[];
  /** IPv4 networks (mapped ones included), checked for IPv4 and IPv4-mapped addresses. */
  private readonly ipv4 = new BlockList();
  /** The other IPv6 networks, checked for the other IPv6 addresses. */
  private readonly ipv6 = new BlockList();

  /** Throws on an invalid entry: callers validate first (see parseNetwork). */
  constructor(entries: readonly string[]) {
    this.networks = Object.freeze(
      entries.map((entry) => {
        const network = parseNetwork(entry);
        if (typeof network === "string") throw new TypeError(network);
        (network.carriesIpv4 ? this.ipv4 : this.ipv6).addSubnet(network.address, network.prefixLength, network.family);
        return network;
      }),
    );
  }

  matches(text: string): boolean {
    if (this.networks.length === 0) return false;
    const address = withoutZone(text.trim().replace(/^\[(.*)\]$/, "$1"));
    if (isIPv4(address)) return this.ipv4.check(address, "ipv4");
    if (!isIPv6(address)) return false;
    return MAPPED_IPV4.check(address, "ipv6") ? this.ipv4.check(address, "ipv6") : this.ipv6.check(address, "ipv6");
  }
}
