import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { NetworkList, parseNetwork } from "../../src/routing/networks.js";

describe("trusted networks", () => {
  /** [networks, address, trusted?]: IPv4, IPv6, and IPv4-mapped IPv6 on either side. */
  const MATCHES: readonly [readonly string[], string, boolean][] = [
    [["192.168.0.0/16", "::ffff:172.16.0.0/108", "fd00::/8", "0.0.0.0/0"], "192.168.255.1", true],
    [["::ffff:172.16.0.0/108"], "172.16.3.4", true],
    [["::ffff:172.16.0.0/108"], "172.32.0.1", false],
    [["::ffff:172.16.0.0/108"], "::ffff:172.16.3.4", true],
    [["::ffff:172.16.0.0/108"], "::ffff:ac10:304", true],
    [["fd00::/8"], "fd12:3456::1", true],
    [["fe80::/10"], "fe80::1%eth0", true],
    [["fe80::/10"], "[fe80::1]", true],
    [["fd00::/8"], "fe00::1", false],
    [["0.0.0.0/0"], "::ffff:8.8.8.8", true],
    [["0.0.0.0/0"], "2001:db8::1", false],
    [["::/0"], "2001:db8::1", true],
    [["::/0"], "8.8.8.8", false],
    [["::/0"], "::ffff:8.8.8.8", false],
    [["::ffff:0:0/96"], "8.8.8.8", true],
    [["10.0.0.0/9"], "10.127.255.255", true],
    [["10.0.0.0/9"], "10.128.0.0", false],
    [["127.0.0.0/8"], "::ffff:127.0.0.1", true],
    [["127.0.0.0/8"], "::ffff:7f00:1", true],
    [["127.0.0.0/8"], "::ffff:128.0.0.1", false],
    [["127.0.0.1"], "::ffff:127.0.0.1", true],
    [["::ffff:127.0.0.1"], "127.0.0.1", true],
    [["::1/128"], "::1", true],
    [["::1/128"], "127.0.0.1", false],
    [["127.0.0.0/8"], "localhost", false],
    [[], "127.0.0.1", false],
  ];
  for (const [networks, address, trusted] of MATCHES) {
    it(`${JSON.stringify(networks)} ${trusted ? "trusts" : "does not trust"} ${address}`, () => {
      assert.equal(new NetworkList(networks).matches(address), trusted);
    });
  }

  it("accepts networks whose host bits are clear, however the address is written", () => {
    for (const good of [
      "10.0.0.0/8",
      "::ffff:10.0.0.0/104",
      "::ffff:a00:0/104",
      "fe80::/10",
      "2001:DB8:0:0::/64",
      "::/0",
      "::1",
      "fe80::1%eth0",
    ]) {
      assert.equal(typeof parseNetwork(good), "object", good);
    }
  });

  it("refuses malformed networks with a reason", () => {
    for (const bad of ["10.0.0.0/33", "10.0.0.1/8", "1.2.3", "::1/129", "10.0.0.0/8/1", "", "fe80::1/10", "::ffff:10.0.0.1/104"]) {
      assert.equal(typeof parseNetwork(bad), "string", bad);
    }
  });
});
