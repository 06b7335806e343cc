/**
 * CIDR matching for the override trust list, IPv4 and IPv6. Pure, no I/O.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:127.0.0.1`, what a dual-stack listener reports for IPv4 clients)
 * are treated as the IPv4 address they carry, on both sides: `127.0.0.0/8` trusts `::ffff:127.0.0.1`,
 * and `::ffff:10.0.0.0/104` is the same network as `10.0.0.0/8`. Zone ids (`fe80::1%eth0`) are ignored.
 */
import { isIPv4, isIPv6 } from "node:net";

/** An address as bytes: 4 for IPv4 (mapped IPv6 included), 16 for IPv6. */
export type AddressBytes = Uint8Array;

export interface Network {
  /** As written in the configuration. */
  readonly text: string;
  readonly bytes: AddressBytes;
  readonly prefixLength: number;
}

function ipv4Bytes(text: string): AddressBytes {
  return Uint8Array.from(text.split(".").map(Number));
}

function ipv6Bytes(text: string): AddressBytes {
  let head = text;
  let tailV4: AddressBytes | undefined;
  const lastColon = head.lastIndexOf(":");
  if (head.includes(".", lastColon)) {
    tailV4 = ipv4Bytes(head.slice(lastColon + 1));
    head = `${head.slice(0, lastColon + 1)}0:0`;
  }
  const [left = "", right] = head.split("::");
  const leftGroups = left === "" ? [] : left.split(":");
  const rightGroups = right === undefined || right === "" ? [] : right.split(":");
  const missing = 8 - leftGroups.length - rightGroups.length;
  const groups = [...leftGroups, ...Array<string>(right === undefined ? 0 : missing).fill("0"), ...rightGroups];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    const value = parseInt(group, 16);
    bytes[i * 2] = value >> 8;
    bytes[i * 2 + 1] = value & 0xff;
  });
  if (tailV4 !== undefined) bytes.set(tailV4, 12);
  return bytes;
}

function isMappedIpv4(bytes: AddressBytes): boolean {
  if (bytes.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return false;
  return bytes[10] === 0xff && bytes[11] === 0xff;
}

/** The bytes of an address, IPv4-mapped IPv6 folded to IPv4; undefined when it is not an IP address. */
export function parseAddress(text: string): AddressBytes | undefined {
  const address = text
    .trim()
    .replace(/%.*$/, "")
    .replace(/^\[(.*)\]$/, "$1");
  if (isIPv4(address)) return ipv4Bytes(address);
  if (!isIPv6(address)) return undefined;
  const bytes = ipv6Bytes(address);
  return isMappedIpv4(bytes) ? bytes.slice(12) : bytes;
}

/**
 * Parses `address/prefix` (or a bare address: a single host). Returns the network or a reason it is not
 * one. Host bits below the prefix must be zero (`10.0.0.1/8` is refused: it is almost always a typo).
 */
export function parseNetwork(text: string): Network | string {
  if (typeof text !== "string" || text.trim() === "") return "must be an IPv4 or IPv6 address or CIDR network";
  const [addressText = "", prefixText, extra] = text.trim().split("/");
  if (extra !== undefined) return `"${text}" is not a CIDR network`;
  const raw = addressText.replace(/%.*$/, "");
  const ipv6Written = isIPv6(raw);
  if (!isIPv4(raw) && !ipv6Written) return `"${text}" is not an IPv4 or IPv6 address`;
  const writtenBits = ipv6Written ? 128 : 32;
  let prefixLength = writtenBits;
  if (prefixText !== undefined) {
    if (!/^\d{1,3}$/.test(prefixText) || Number(prefixText) > writtenBits) return `"${text}": the prefix length must be 0-${writtenBits}`;
    prefixLength = Number(prefixText);
  }
  let bytes = ipv6Written ? ipv6Bytes(raw) : ipv4Bytes(raw);
  if (ipv6Written && isMappedIpv4(bytes) && prefixLength >= 96) {
    bytes = bytes.slice(12);
    prefixLength -= 96;
  }
  for (let bit = prefixLength; bit < bytes.length * 8; bit++) {
    if ((bytes[bit >> 3]! >> (7 - (bit & 7))) & 1) return `"${text}" has host bits set below its /${prefixText ?? writtenBits} prefix`;
  }
  return Object.freeze({ text, bytes, prefixLength });
}

function contains(network: Network, address: AddressBytes): boolean {
  if (network.bytes.length !== address.length) return false;
  const fullBytes = network.prefixLength >> 3;
  for (let i = 0; i < fullBytes; i++) if (network.bytes[i] !== address[i]) return false;
  const restBits = network.prefixLength & 7;
  if (restBits === 0) return true;
  const mask = (0xff << (8 - restBits)) & 0xff;
  return (network.bytes[fullBytes]! & mask) === (address[fullBytes]! & mask);
}

/** A parsed list of networks; `matches` answers whether an address falls in any of them. */
export class NetworkList {
  readonly networks: readonly Network[];

  /** Throws on an invalid entry: callers validate first (see parseNetwork). */
  constructor(entries: readonly string[]) {
    this.networks = Object.freeze(
      entries.map((entry) => {
        const network = parseNetwork(entry);
        if (typeof network === "string") throw new TypeError(network);
        return network;
      }),
    );
  }

  matches(address: string): boolean {
    if (this.networks.length === 0) return false;
    const bytes = parseAddress(address);
    if (bytes === undefined) return false;
    return this.networks.some((network) => contains(network, bytes));
  }
}
