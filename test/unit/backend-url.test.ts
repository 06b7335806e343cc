import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { backendUrl, webSocketUrl } from "../../src/upstream/backend-url.js";
import { upstreamUrl } from "../../src/upstream/client-context.js";

describe("backend URLs", () => {
  const cases: readonly [base: string, expected: string][] = [
    ["http://legacy:3000", "http://legacy:3000/socket.io/?EIO=4&transport=polling"],
    ["http://legacy:3000/", "http://legacy:3000/socket.io/?EIO=4&transport=polling"],
    ["http://legacy:3000/chat", "http://legacy:3000/chat/socket.io/?EIO=4&transport=polling"],
    ["http://legacy:3000/chat///", "http://legacy:3000/chat/socket.io/?EIO=4&transport=polling"],
    ["https://legacy/app?stale=1", "https://legacy/app/socket.io/?EIO=4&transport=polling"],
  ];
  for (const [base, expected] of cases) {
    it(`puts the Socket.IO path under ${base}`, () => {
      const params: [string, string][] = [
        ["EIO", "4"],
        ["transport", "polling"],
      ];
      assert.equal(backendUrl(base, "/socket.io/", params).toString(), expected);
    });
  }

  it("turns http(s) into ws(s) and leaves ws(s) alone", () => {
    assert.deepEqual(
      ["http://hub:4000/x", "https://hub/x", "ws://hub/x", "wss://hub/x"].map((url) => webSocketUrl(new URL(url)).toString()),
      ["ws://hub:4000/x", "wss://hub/x", "ws://hub/x", "wss://hub/x"],
    );
  });

  it("an upstream session's URL: the client's query in order, then the gateway's Engine.IO parameters", () => {
    const context = {
      eio: 4 as const,
      query: [
        ["room", "a b"],
        ["room", "c"],
      ] as const,
      headers: {},
      remoteAddress: "203.0.113.7",
    };
    assert.equal(
      upstreamUrl("https://legacy/app/", "/socket.io/", context, [
        ["EIO", "4"],
        ["transport", "websocket"],
      ]),
      "wss://legacy/app/socket.io/?room=a+b&room=c&EIO=4&transport=websocket",
    );
  });
});
