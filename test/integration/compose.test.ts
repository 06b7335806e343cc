/**
 * docker-compose.yml, offline (there is no Docker engine here): Debian's docker-compose v1 validates it,
 * and the services are checked against what they must agree with — the gateway's real settings parser,
 * package.json's start script, the Dockerfile, HAProxy's backends, Prometheus's targets, Grafana's
 * provisioning — and against the commands the end-to-end test starts.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { parse as parseYaml } from "yaml";
import { SETTINGS } from "../../src/config/settings.js";
import { loadStaticConfig } from "../../src/config/static-config.js";
import { composeCommand, loadCompose, type ComposeService } from "../helpers/compose-services.js";
import { REPO_ROOT } from "../helpers/dashboard-queries.js";

const compose = loadCompose();
const GATEWAYS = ["switchyard-1", "switchyard-2"];
const read = (path: string) => readFileSync(join(REPO_ROOT, path), "utf8");

function service(name: string): ComposeService {
  const found = compose.services[name];
  assert.ok(found, `compose service ${name}`);
  return found;
}

/** "./host/path:/container/path:ro" → [host, container]. */
function mounts(name: string): Map<string, string> {
  return new Map(
    (service(name).volumes ?? []).map((volume) => volume.split(":") as [string, string]).map(([host, target]) => [target, host]),
  );
}

test("docker-compose config -q accepts the file (no errors, no warnings)", () => {
  const result = spawnSync("docker-compose", ["-f", "docker-compose.yml", "config", "-q"], {
    cwd: REPO_ROOT,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(result.status, 0, result.stderr);
  assert.equal(result.stderr.trim(), "", "docker-compose printed warnings");
  assert.equal(result.stdout.trim(), "");
});

test("docker-compose config does reject a broken file (the check is real)", () => {
  const broken = `version: "3.8"\nservices:\n  gateway:\n    image: switchyard:local\n    bogus_key: 1\n`;
  const result = spawnSync("docker-compose", ["-f", "-", "config", "-q"], {
    cwd: REPO_ROOT,
    input: broken,
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.notEqual(result.status, 0);
  assert.match(result.stderr, /bogus_key/);
});

test("the stack has redis, both sample backends, two gateways, a load balancer, Prometheus and Grafana", () => {
  assert.deepEqual(Object.keys(compose.services).sort(), [
    "grafana",
    "haproxy",
    "hub",
    "legacy",
    "prometheus",
    "redis",
    "switchyard-1",
    "switchyard-2",
  ]);
});

test("service commands are npm start's, the Dockerfile's and the ones the end-to-end test starts", () => {
  const packageJson = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
  // `exec` makes the shell npm runs the script in become node: npm's signals reach the gateway itself.
  const [exec, ...npmStart] = packageJson.scripts.start!.split(/\s+/);
  assert.equal(exec, "exec", "npm start execs node (no shell left between npm and the gateway)");
  const cmd = /^CMD\s+(\[.*\])\s*$/m.exec(read("Dockerfile"));
  assert.ok(cmd, "the Dockerfile has an exec-form CMD");
  for (const gateway of GATEWAYS) {
    assert.deepEqual(composeCommand(gateway, compose), npmStart, `${gateway} runs what \`npm start\` runs`);
    assert.deepEqual(composeCommand(gateway, compose), JSON.parse(cmd[1]!), `${gateway} runs the image's CMD`);
  }
  assert.deepEqual(composeCommand("legacy", compose), ["node", "dist/examples/legacy-chat/server.js"]);
  assert.deepEqual(composeCommand("hub", compose), ["node", "dist/examples/hub/server.js"]);
  // Each dist/ entry point is compiled from a source file that exists, and that honours PORT and HOST.
  for (const name of ["legacy", "hub", "switchyard-1"]) {
    const script = composeCommand(name, compose)[1]!;
    const source = script.replace(/^dist\//, "").replace(/\.js$/, ".ts");
    assert.ok(existsSync(join(REPO_ROOT, source)), `${name}: ${source} exists`);
  }
  for (const source of ["examples/legacy-chat/server.ts", "examples/hub/server.ts"]) {
    assert.match(read(source), /envNumber\("PORT"\)/, `${source} reads PORT`);
    assert.match(read(source), /process\.env\.HOST/, `${source} reads HOST`);
  }
  // The end-to-end test takes its commands from this file rather than repeating them.
  assert.match(read("test/e2e/prometheus.test.ts"), /startObservedStack\(/);
  const starter = read("test/helpers/observed-stack.ts");
  for (const name of ["legacy", "hub", "switchyard-1"]) {
    assert.match(
      starter,
      new RegExp(`startNodeService\\(composeCommand\\("${name}", compose\\)`),
      `the e2e stack starts compose's ${name} command`,
    );
  }
});

test("gateway environments are valid settings, and point at the stack's services", () => {
  const legacyPort = service("legacy").environment!.PORT;
  const hubPort = service("hub").environment!.PORT;
  const ids = new Set<string>();
  for (const gateway of GATEWAYS) {
    const env = { ...service(gateway).environment! };
    for (const name of Object.keys(env)) assert.ok(name in SETTINGS, `${gateway}: ${name} is not a Switchyard setting`);
    const config = loadStaticConfig(env);
    assert.equal(config.instanceId, gateway);
    ids.add(config.instanceId);
    assert.equal(config.internalUrl, `http://${gateway}:${config.port}`, `${gateway}: INTERNAL_URL reaches its own client listener`);
    assert.equal(config.legacyUrl, `http://legacy:${legacyPort}`);
    assert.equal(config.hubUrl, `ws://hub:${hubPort}`);
    assert.equal(config.redisUrl, "redis://redis:6379");
    assert.equal(config.trustProxy, true, "HAProxy sets X-Forwarded-*");
    assert.ok(config.adminToken !== undefined && config.adminToken.length >= 16);
    assert.deepEqual(service(gateway).expose, [String(config.port), String(config.opsPort)]);
    const healthcheck = service(gateway).healthcheck!.test.join(" ");
    assert.match(healthcheck, new RegExp(`127\\.0\\.0\\.1:${config.opsPort}/readyz`));
  }
  assert.equal(ids.size, GATEWAYS.length, "INSTANCE_IDs are distinct");
  for (const backend of ["legacy", "hub"])
    assert.equal(service(backend).environment!.HOST, "0.0.0.0", `${backend} listens beyond its container's loopback`);
});

test("rooms span both backends: the legacy chat is on the Redis adapter with the gateways' bridge key", () => {
  const legacy = service("legacy").environment!;
  for (const gateway of GATEWAYS) {
    const config = loadStaticConfig({ ...service(gateway).environment! });
    assert.equal(config.rooms.bridge, true, `${gateway}: the room bridge is on`);
    assert.equal(legacy.REDIS_URL, config.redisUrl, "the legacy chat's adapter is on the gateways' Redis");
    // The sample legacy chat's adapter key is ADAPTER_KEY, the adapter's own default ("socket.io") when unset.
    assert.equal(legacy.ADAPTER_KEY ?? "socket.io", config.rooms.adapterKey, `${gateway}: the bridge's key is the adapter's`);
  }
  assert.equal(service("hub").environment!.REDIS_URL, legacy.REDIS_URL, "both samples share the chat history");
  for (const backend of ["legacy", "hub"]) assert.ok(service(backend).depends_on !== undefined, `${backend} waits for Redis`);
});

test("HAProxy balances over both gateways' client ports and health-checks their /readyz", () => {
  assert.equal(mounts("haproxy").get("/usr/local/etc/haproxy/haproxy.cfg"), "./deploy/haproxy.cfg");
  const cfg = read("deploy/haproxy.cfg");
  const servers = [...cfg.matchAll(/^\s*server\s+(\S+)\s+(\S+)/gm)].map((m) => m[2]);
  const env = (name: string) => loadStaticConfig({ ...service(name).environment! });
  assert.deepEqual(
    servers,
    GATEWAYS.map((g) => `${g}:${env(g).port}`),
  );
  assert.match(cfg, /^\s*balance roundrobin$/m);
  assert.match(cfg, /http-check send meth GET uri \/readyz/);
  assert.match(cfg, new RegExp(`default-server check port ${env(GATEWAYS[0]!).opsPort}\\b`));
  assert.match(cfg, /timeout tunnel/, "WebSockets need a tunnel timeout");
  assert.ok(service("haproxy").ports!.includes("3000:3000"));
});

test("Prometheus scrapes both gateways' ops ports with the alert rules mounted", () => {
  assert.equal(mounts("prometheus").get("/etc/prometheus"), "./prometheus");
  assert.ok((service("prometheus").command as string[]).includes("--config.file=/etc/prometheus/prometheus.yml"));
  const config = parseYaml(read("prometheus/prometheus.yml")) as {
    rule_files: string[];
    scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[];
  };
  assert.deepEqual(config.rule_files, ["alerts.yml"]);
  assert.ok(existsSync(join(REPO_ROOT, "prometheus", "alerts.yml")));
  const job = config.scrape_configs.find((c) => c.job_name === "switchyard");
  assert.ok(job, 'a `switchyard` job (the alerts select job="switchyard")');
  const opsPort = (name: string) => loadStaticConfig({ ...service(name).environment! }).opsPort;
  assert.deepEqual(
    job.static_configs.flatMap((c) => c.targets),
    GATEWAYS.map((g) => `${g}:${opsPort(g)}`),
  );
});

test("Grafana mounts the provisioning and the dashboards where the provider looks", () => {
  const grafanaMounts = mounts("grafana");
  assert.equal(grafanaMounts.get("/etc/grafana/provisioning"), "./grafana/provisioning");
  const dashboardsTarget = [...grafanaMounts.entries()].find(([, host]) => host === "./grafana/dashboards")?.[0];
  const provider = parseYaml(read("grafana/provisioning/dashboards/switchyard.yml")) as {
    providers: { type: string; options: { path: string } }[];
  };
  assert.equal(provider.providers[0]?.type, "file");
  assert.equal(provider.providers[0]?.options.path, dashboardsTarget);
  assert.ok(existsSync(join(REPO_ROOT, "grafana", "dashboards", "switchyard.json")));
  const datasources = parseYaml(read("grafana/provisioning/datasources/prometheus.yml")) as {
    datasources: { type: string; url: string; isDefault: boolean }[];
  };
  const prometheusPort = (service("prometheus").ports ?? [])[0]!.split(":")[1];
  assert.deepEqual(
    datasources.datasources.map((d) => [d.type, d.url, d.isDefault]),
    [["prometheus", `http://prometheus:${prometheusPort}`, true]],
  );
});

test("the Dockerfile is multi-stage, production-only at run time, and runs as a non-root user", () => {
  const dockerfile = read("Dockerfile");
  const stages = [...dockerfile.matchAll(/^FROM\s+\S+(?:\s+AS\s+(\S+))?/gim)].map((m) => m[1]);
  assert.ok(stages.length >= 2, "multi-stage");
  const runtime = dockerfile.slice(dockerfile.lastIndexOf("\nFROM "));
  const user = /^USER\s+(\S+)/m.exec(runtime);
  assert.ok(user && !["root", "0", "0:0"].includes(user[1]!), "the runtime stage switches to a non-root user");
  // The production install: `npm ci --omit=dev` (deploy/install-runtime-deps.sh, which also adds socket.io
  // for the sample legacy server while package.json lists it as a dev dependency).
  assert.match(dockerfile, /^RUN sh deploy\/install-runtime-deps\.sh$/m);
  const installer = read("deploy/install-runtime-deps.sh");
  assert.match(installer, /^\s*npm ci --omit=dev\b/m);
  assert.doesNotMatch(installer.replace(/^\s*#.*$/gm, ""), /npm (ci|install)(?![^\n]*--omit=dev)/, "every install omits dev dependencies");
  assert.doesNotMatch(runtime, /^COPY\s+\.\s/m, "the runtime stage copies nothing wholesale");
  assert.doesNotMatch(runtime, /^RUN\s+npm (ci|install)(?![^\n]*--omit=dev)/m, "no dev dependencies at run time");
  assert.match(runtime, /COPY --from=build \/app\/dist\/src/);
  // Everything the Dockerfile copies from the build context exists and is let through by .dockerignore.
  const allowed = read(".dockerignore")
    .split("\n")
    .filter((l) => l.startsWith("!"))
    .map((l) => l.slice(1).replace(/\/$/, ""));
  for (const [, source] of dockerfile.matchAll(/^COPY\s+(?!--from)(?:--\S+\s+)*(\S+)/gm)) {
    assert.ok(existsSync(join(REPO_ROOT, source!)), `COPY source ${source} exists`);
    assert.ok(
      allowed.some((a) => source === a || source!.startsWith(`${a}/`)),
      `.dockerignore lets ${source} through`,
    );
  }
});
