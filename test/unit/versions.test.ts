import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { derivedSocketId, encodeConnectError, socketIoRevisionOf } from "../../src/protocol/versions.js";

describe("protocol revisions", () => {
  it("maps Engine.IO to Socket.IO revisions", () => {
    assert.equal(socketIoRevisionOf(3), 4);
    assert.equal(socketIoRevisionOf(4), 5);
  });

  it("writes CONNECT_ERROR like socket.io 4.8 for each revision", () => {
    assert.equal(encodeConnectError(5, "/", "not authorized", { code: 42 }), '4{"message":"not authorized","data":{"code":42}}');
    assert.equal(encodeConnectError(5, "/x", "nope"), '4/x,{"message":"nope"}');
    assert.equal(encodeConnectError(4, "/", "not authorized", { code: 42 }), '4{"code":42}');
    assert.equal(encodeConnectError(4, "/", "not authorized"), '4"not authorized"');
  });

  it("derives 2.x socket ids from the engine id", () => {
    assert.equal(derivedSocketId("abc", "/"), "abc");
    assert.equal(derivedSocketId("abc", "/admin"), "/admin#abc");
  });
});
