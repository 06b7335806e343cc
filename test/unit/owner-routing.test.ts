import assert from "node:assert/strict";
import { IncomingMessage } from "node:http";
import { Socket } from "node:net";
import { describe, it } from "node:test";
import { NegativeOwnerCache, OwnerRouting } from "../../src/downstream/owner-routing.js";
import { FORWARDED_HEADER, forwardingMarker, stripGatewayHeaders } from "../../src/downstream/gateway-headers.js";
import type { SessionOwner } from "../../src/store/routing-store.js";
import { eventually } from "../helpers/eventually.js";

const MARKER = forwardingMarker({ adminToken: "a-token-of-this-deployment", redisKeyPrefix: "switchyard:" });

/** A client request as the gateway hands it on: its x-switchyard-* headers already stripped. */
function request(headers: Record<string, string> = {}): IncomingMessage {
  const req = new IncomingMessage(new Socket());
  req.headers = { ...headers };
  req.rawHeaders = Object.entries(headers).flat();
  stripGatewayHeaders(req, MARKER);
  return req;
}

function routing(owners: Record<string, SessionOwner>) {
  const asked: string[] = [];
  const directory = {
    instanceId: "gw-1",
    sessionOwner: async (sid: string) => {
      asked.push(sid);
      return owners[sid];
    },
  };
  return { owners: new OwnerRouting(directory), asked };
}

describe("owner routing", () => {
  it("finds the owner's URL; this instance or nobody means undefined", async () => {
    const { owners } = routing({
      remote: { instanceId: "gw-2", internalUrl: "http://gw-2:3000" },
      mine: { instanceId: "gw-1", internalUrl: "http://gw-1:3000" },
    });
    assert.equal(await owners.ownerUrl("remote"), "http://gw-2:3000");
    assert.equal(await owners.ownerUrl("mine"), undefined);
    assert.equal(await owners.ownerUrl("nobody"), undefined);
  });

  it("remembers sids no other instance owns, and never sends a forwarded request on", async () => {
    const { owners, asked } = routing({ remote: { instanceId: "gw-2", internalUrl: "http://gw-2:3000" } });
    assert.equal(owners.staysHere(request(), "nobody"), false);
    await owners.ownerUrl("nobody");
    await owners.ownerUrl("remote");
    assert.equal(owners.staysHere(request(), "nobody"), true);
    assert.equal(owners.staysHere(request(), "remote"), false, "a remote owner is asked again (it may be gone)");
    assert.equal(owners.staysHere(request({ [FORWARDED_HEADER]: MARKER }), "remote"), true, "another instance forwarded it");
    assert.equal(owners.staysHere(request({ [FORWARDED_HEADER]: "gw-2" }), "remote"), false, "a client's imitation is not");
    assert.deepEqual(asked, ["nobody", "remote"]);
  });

  it("strips the gateway's own headers from a client request, from the parsed and the raw headers", () => {
    const req = request({
      "x-switchyard-shadow": "1",
      "x-switchyard-session": "mine",
      [FORWARDED_HEADER]: MARKER,
      "x-switchyard-backend": "hub",
      cookie: "a=1",
    });
    assert.deepEqual(req.headers, { "x-switchyard-backend": "hub", cookie: "a=1" }, "a routing override header stays");
    assert.deepEqual(req.rawHeaders, ["x-switchyard-backend", "hub", "cookie", "a=1"]);
    assert.notEqual(
      forwardingMarker({ adminToken: "another-deployment-token", redisKeyPrefix: "switchyard:" }),
      MARKER,
      "the marker depends on the deployment's shared settings",
    );
  });

  it("negative cache: entries expire, and a full cache drops its oldest tenth", async () => {
    const cache = new NegativeOwnerCache(30, 10);
    for (let i = 0; i < 10; i++) cache.add(`s${i}`);
    cache.add("s10");
    assert.equal(cache.has("s0"), false, "the oldest went");
    assert.equal(cache.has("s1"), true);
    assert.equal(cache.has("s10"), true);
    await eventually(() => !cache.has("s10"), "the entry to expire");
  });
});
