/**
 * Security at the gateway's edges, on real gateways: TLS on the client listener (real clients over wss:// and
 * https:// polling, the certificate replaced without a restart), headers only the gateway may set stripped from
 * client requests before a backend sees them, FORWARD_HEADERS refused when it names a header the gateway owns,
 * and unsafe settings refused at start-up.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { after, before, describe, it } from "node:test";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { SwitchyardError } from "../../src/errors.js";
import { type ClientVersion, connected, createClient, emitWithAck, type TransportMode } from "../helpers/clients.js";
import { eventually } from "../helpers/eventually.js";
import { gatewayEnv, startStack, type Stack } from "../helpers/stack.js";

/** A self-signed certificate for 127.0.0.1 and localhost, made by openssl (an EC key: fast to make). */
function selfSigned(dir: string, name: string): { cert: string; key: string; certFile: string; keyFile: string } {
  const [certFile, keyFile] = [join(dir, `${name}.crt`), join(dir, `${name}.key`)];
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      `/CN=${name}`,
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { stdio: "ignore" },
  );
  return { cert: readFileSync(certFile, "utf8"), key: readFileSync(keyFile, "utf8"), certFile, keyFile };
}

/** The common name of the certificate the gateway presents now. */
function presentedName(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: hostname, port: Number(port), rejectUnauthorized: false }, () => {
      resolve(String(socket.getPeerCertificate().subject.CN));
      socket.end();
    });
    socket.once("error", reject);
  });
}

function refusal(env: Record<string, string>): string {
  try {
    loadStaticConfig(gatewayEnv(env));
  } catch (error) {
    assert.ok(error instanceof SwitchyardError);
    assert.equal(error.code, "SWY_ERR_CONFIG_INVALID");
    return error.message;
  }
  return assert.fail(`expected ${JSON.stringify(env)} to be refused`);
}

describe("TLS on the client listener", () => {
  const dir = mkdtempSync(join(tmpdir(), "swy-tls-"));
  const first = selfSigned(dir, "first");
  const second = selfSigned(dir, "second");
  const live = { certFile: join(dir, "live.crt"), keyFile: join(dir, "live.key") };
  let stack: Stack;

  before(async () => {
    writeFileSync(live.certFile, first.cert);
    writeFileSync(live.keyFile, first.key);
    stack = await startStack({
      mode: "terminate",
      env: { TLS_CERT_FILE: live.certFile, TLS_KEY_FILE: live.keyFile, TLS_RELOAD_INTERVAL_MS: "100" },
    });
  });
  after(async () => {
    await stack.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("serves real clients over wss:// and https:// polling", async () => {
    assert.match(stack.url, /^https:\/\/127\.0\.0\.1:\d+$/);
    const cases: [ClientVersion, TransportMode][] = [
      ["4", "websocket"],
      ["4", "polling"],
      ["4", "upgrade"],
      ["2", "websocket"],
      ["2", "polling"],
    ];
    for (const [version, transport] of cases) {
      const socket = createClient(version, stack.url, "/", { transport, ca: first.cert });
      await connected(socket);
      assert.deepEqual(await emitWithAck(socket, "echo", "over tls"), ["over tls"], `${version} ${transport}`);
      socket.close();
    }
  });

  it("refuses at start-up a certificate and key that do not make a pair", () => {
    assert.match(refusal({ TLS_CERT_FILE: first.certFile, TLS_KEY_FILE: second.keyFile }), /do not make a usable pair/);
  });

  it("serves a renewed certificate without a restart, and keeps the old one while the new pair does not match", async () => {
    assert.equal(await presentedName(stack.url), "first");
    // A renewal caught half-way (the certificate replaced, not yet the key) is not applied.
    writeFileSync(`${live.certFile}.tmp`, second.cert);
    renameSync(`${live.certFile}.tmp`, live.certFile);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(await presentedName(stack.url), "first");
    writeFileSync(`${live.keyFile}.tmp`, second.key);
    renameSync(`${live.keyFile}.tmp`, live.keyFile);
    await eventually(async () => (await presentedName(stack.url)) === "second", "the renewed certificate to be served", 5000, 100);
    const socket = createClient("4", stack.url, "/", { transport: "websocket", ca: second.cert });
    await connected(socket);
    socket.close();
  });
});

describe("headers only the gateway sets", () => {
  let stack: Stack;
  const seen: Record<string, unknown>[] = [];

  before(async () => {
    stack = await startStack({ mode: "pipe", env: { FORWARD_HEADERS: "x-tenant" } });
    stack.legacy.http.prependListener("request", (req) => seen.push({ ...req.headers }));
    stack.legacy.io.on("connection", (socket) => seen.push({ ...socket.handshake.headers }));
  });
  after(() => stack.close());

  it("are stripped from client requests before any backend sees them, on every route", async () => {
    const spoofed = { "x-switchyard-shadow": "1", "x-switchyard-session": "chosen", "x-switchyard-forwarded": "gw-2", "x-tenant": "t1" };
    await fetch(`${stack.url}/socket.io/socket.io.js`, { headers: spoofed });
    const piped = createClient("4", stack.url, "/", { transport: "polling", extraHeaders: spoofed });
    await connected(piped);
    piped.close();
    const terminated = await startStack({ mode: "terminate", env: { FORWARD_HEADERS: "x-tenant" } });
    try {
      const headers: Record<string, unknown>[] = [];
      terminated.legacy.io.on("connection", (socket) => headers.push({ ...socket.handshake.headers }));
      const socket = createClient("4", terminated.url, "/", { transport: "websocket", extraHeaders: spoofed });
      await connected(socket);
      socket.close();
      seen.push(...headers);
      assert.equal(headers[0]?.["x-tenant"], "t1", "a FORWARD_HEADERS header reaches the terminated session's backend");
    } finally {
      await terminated.close();
    }
    assert.ok(seen.length >= 3);
    for (const headers of seen) {
      assert.deepEqual(
        Object.keys(headers).filter((name) => ["x-switchyard-shadow", "x-switchyard-session", "x-switchyard-forwarded"].includes(name)),
        [],
        `a backend saw a header only the gateway sets: ${JSON.stringify(headers)}`,
      );
    }
  });
});

describe("settings refused at start-up", () => {
  it("refuses FORWARD_HEADERS that name a header the gateway owns, naming each", () => {
    const message = refusal({ FORWARD_HEADERS: "x-tenant, Host, connection, sec-websocket-key, x-switchyard-shadow, x-forwarded-for" });
    for (const name of ["host", "connection", "sec-websocket-key", "x-switchyard-shadow", "x-forwarded-for"])
      assert.match(message, new RegExp(`"${name}"`));
    assert.doesNotMatch(message, /x-tenant/);
    assert.match(refusal({ FORWARD_HEADERS: "bad header" }), /not a header name/);
    assert.deepEqual(loadStaticConfig(gatewayEnv({ FORWARD_HEADERS: "X-Tenant,x-request-id" })).forwardHeaders, [
      "x-tenant",
      "x-request-id",
    ]);
  });

  it("refuses unsafe combinations, each problem named", () => {
    assert.match(refusal({ ADMIN_TOKEN: "a-long-admin-token\n" }), /ADMIN_TOKEN must not contain whitespace/);
    assert.match(refusal({ CORS_ORIGIN: "*", CORS_CREDENTIALS: "true" }), /CORS_ORIGIN=\* cannot be used with CORS_CREDENTIALS=true/);
    assert.match(refusal({ COOKIE_NAME: "io", COOKIE_SAME_SITE: "none" }), /COOKIE_SAME_SITE=none needs COOKIE_SECURE=true/);
    assert.match(refusal({ TLS_CERT_FILE: "/some/cert.pem" }), /TLS_CERT_FILE and TLS_KEY_FILE go together/);
    assert.match(refusal({ TLS_CERT_FILE: "/no/cert.pem", TLS_KEY_FILE: "/no/key.pem" }), /TLS_CERT_FILE, TLS_KEY_FILE: .*no such file/i);
    assert.match(refusal({ TRUSTED_PROXIES: "10.0.0.0/8, proxy.internal" }), /TRUSTED_PROXIES must list addresses or CIDR networks/);
    assert.match(refusal({ INTERNAL_URL: "https://gw-1:3000" }), /INTERNAL_URL must use http:/);
    assert.match(refusal({ NODE_ENV: "production" }), /LEGACY_URL must be set when NODE_ENV=production/);
    const fine = loadStaticConfig(
      gatewayEnv({
        NODE_ENV: "production",
        LEGACY_URL: "http://legacy:4000",
        COOKIE_NAME: "io",
        COOKIE_SAME_SITE: "none",
        COOKIE_SECURE: "1",
      }),
    );
    assert.deepEqual(fine.cookie, { name: "io", path: "/", sameSite: "none", secure: true });
  });
});
