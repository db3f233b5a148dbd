// What every scenario file shares: the SDK client pointed at the hookd under test, a scripted
// receiver on loopback, polling, error expectations, delivery verification with the SDK's own
// `Webhook` class, and the runner that makes each scenario file an executable script.
//
// A scenario is an exported `async function name(t)` in an area file (`applications.mjs`, ...);
// `t` is the context built here. compat/test_js_sdk.py runs each one as its own pytest test:
// `node compat/js_sdk/<area>.mjs <scenario>` with HOOKD_URL and HOOKD_TOKEN in the environment.

import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import http from "node:http";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { ApiException, Svix, Webhook, WebhookVerificationError } from "svix";

export const DELIVERY_TIMEOUT_MS = 15_000;
// Three attempts with the suite's 1s,1s retry schedule, plus jitter and the delivery itself.
export const RETRY_TIMEOUT_MS = 25_000;

/** A uid no other scenario (or earlier run against the same data directory) uses. */
export function unique(prefix) {
  return `${prefix}-${randomUUID().replaceAll("-", "").slice(0, 12)}`;
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Calls `fn` until it returns something truthy; fails naming `what` after `timeoutMs`. */
export async function poll(fn, what, timeoutMs = DELIVERY_TIMEOUT_MS, intervalMs = 100) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await fn();
    if (last) {
      return last;
    }
    if (Date.now() > deadline) {
      throw new assert.AssertionError({
        message: `timed out after ${timeoutMs} ms waiting for ${what}; last value: ${describe(last)}`,
      });
    }
    await sleep(intervalMs);
  }
}

/**
 * Awaits `promise`, which must be refused with an `ApiException` of `status`; returns the
 * exception (its `body` is the parsed JSON error, which the SDK parses for every 4xx).
 */
export async function rejectsWith(status, promise, what = "the call") {
  let error;
  try {
    const value = await promise;
    throw new assert.AssertionError({
      message: `${what}: expected HTTP ${status}, but it succeeded with ${describe(value)}`,
    });
  } catch (caught) {
    if (caught instanceof assert.AssertionError) {
      throw caught;
    }
    error = caught;
  }
  if (!(error instanceof ApiException)) {
    throw new assert.AssertionError({
      message: `${what}: expected an ApiException with HTTP ${status}, got ${error?.stack ?? error}`,
    });
  }
  assert.equal(error.code, status, `${what}: expected HTTP ${status}, got ${error.code}: ${describe(error.body)}`);
  return error;
}

/** A 422 whose first validation error names `loc` (e.g. ["body", "url"]). */
export async function rejectsWithValidation(promise, loc, what = "the call") {
  const error = await rejectsWith(422, promise, what);
  assert.ok(Array.isArray(error.body?.detail) && error.body.detail.length > 0, `${what}: 422 without a detail list: ${describe(error.body)}`);
  for (const item of error.body.detail) {
    assert.ok(item.msg && item.type && Array.isArray(item.loc), `${what}: malformed validation item ${describe(item)}`);
  }
  assert.deepEqual(error.body.detail[0].loc, loc, `${what}: ${describe(error.body.detail)}`);
  return error;
}

export function describe(value) {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** The signatures of a `webhook-signature` header. */
export function signatures(header) {
  return header.split(" ").filter((part) => part.length > 0);
}

/**
 * The request is a signed Standard Webhooks delivery of `payload` as message `msgId`: checked
 * with the JS SDK's own `Webhook` class, with both header families and with each alone, and a
 * wrong secret must not verify (so the check is not vacuous).
 */
export function verifyDelivery(request, secret, msgId, payload) {
  const h = request.headers;
  assert.equal(request.method, "POST");
  assert.equal(h["webhook-id"], msgId, describe(h));
  assert.equal(h["svix-id"], msgId, describe(h));
  assert.ok(h["webhook-timestamp"] && h["webhook-timestamp"] === h["svix-timestamp"], describe(h));
  assert.ok(h["webhook-signature"] && h["webhook-signature"] === h["svix-signature"], describe(h));
  assert.ok(Math.abs(Number(h["webhook-timestamp"]) - Date.now() / 1000) < 300, describe(h));
  assert.ok((h["content-type"] ?? "").startsWith("application/json"), describe(h));
  assert.ok(signatures(h["webhook-signature"]).every((s) => s.startsWith("v1,")), describe(h));
  assert.deepEqual(JSON.parse(request.body.toString("utf8")), payload);

  const body = request.body.toString("utf8");
  new Webhook(secret).verify(body, h);
  new Webhook(secret).verify(request.body, h);
  const onlyWebhook = Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith("svix-")));
  const onlySvix = Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith("webhook-")));
  new Webhook(secret).verify(body, onlyWebhook);
  new Webhook(secret).verify(body, onlySvix);

  const other = "whsec_" + Buffer.alloc(32, 7).toString("base64");
  assert.throws(() => new Webhook(other).verify(body, h), WebhookVerificationError);
}

/** The signature the SDK's `Webhook.sign` makes for this request with `secret`. */
export function expectedSignature(secret, request) {
  const timestamp = new Date(Number(request.headers["webhook-timestamp"]) * 1000);
  return new Webhook(secret).sign(request.headers["webhook-id"], timestamp, request.body.toString("utf8"));
}

/**
 * A scripted HTTP receiver on 127.0.0.1: records every request, answers from a per-path
 * script of statuses (`script("/path", [500, 200])`, `script(null, [...])` for every path
 * without its own), then `defaultStatus`.
 */
export class Receiver {
  constructor(server, defaultStatus = 200) {
    this.server = server;
    this.defaultStatus = defaultStatus;
    this.received = [];
    this.scripts = new Map();
    this.waiters = new Set();
  }

  static async start() {
    const receiver = new Receiver(null);
    const server = http.createServer((req, res) => receiver.handle(req, res));
    server.keepAliveTimeout = 1000;
    await new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    receiver.server = server;
    return receiver;
  }

  get url() {
    return `http://127.0.0.1:${this.server.address().port}`;
  }

  endpointUrl(path) {
    return this.url + (path.startsWith("/") ? path : "/" + path);
  }

  script(path, statuses) {
    this.scripts.set(path, [...statuses]);
  }

  requests(path = null) {
    return this.received.filter((r) => path === null || r.path === path);
  }

  /** Waits until at least `n` requests (to `path`, if given) arrived; returns them all. */
  async waitFor(n, { path = null, timeoutMs = DELIVERY_TIMEOUT_MS } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const got = this.requests(path);
      if (got.length >= n) {
        return got;
      }
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new assert.AssertionError({
          message: `receiver: expected ${n} request(s) to ${path ?? "any path"} within ${timeoutMs} ms, got ${got.length}: ${describe(got.map((r) => [r.method, r.path, r.status]))}`,
        });
      }
      await new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this.waiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, remaining);
        this.waiters.add(done);
      });
    }
  }

  nextStatus(path) {
    for (const key of [path, null]) {
      const queue = this.scripts.get(key);
      if (queue && queue.length > 0) {
        return queue.shift();
      }
    }
    return this.defaultStatus;
  }

  handle(req, res) {
    const chunks = [];
    req.on("data", (chunk) => chunks.push(chunk));
    req.on("end", () => {
      const path = req.url.split("?", 1)[0];
      const status = this.nextStatus(path);
      this.received.push({
        method: req.method,
        path,
        headers: { ...req.headers },
        body: Buffer.concat(chunks),
        time: Date.now(),
        status,
      });
      const reply = status >= 200 && status < 300 ? '{"ok":true}' : '{"ok":false}';
      res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(reply) });
      res.end(reply);
      for (const wake of [...this.waiters]) {
        wake();
      }
    });
  }

  close() {
    this.server.closeAllConnections?.();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

/** What a scenario gets: the SDK client, a receiver (started on first use) and helpers. */
export class Context {
  constructor(url, token) {
    this.url = url;
    this.token = token;
    // No retries: a 5xx from hookd is a finding, not something to paper over.
    this.svix = new Svix(token, { serverUrl: url, numRetries: 0 });
    this._receiver = null;
  }

  /** Another client, e.g. with a portal token. */
  client(token) {
    return new Svix(token, { serverUrl: this.url, numRetries: 0 });
  }

  /**
   * A raw call, for the few operations this SDK version has no method for: JSON in, the
   * status and parsed JSON body out (a body that is not JSON fails here).
   */
  async raw(method, path, { query = {}, body } = {}) {
    const url = new URL(this.url + path);
    for (const [name, value] of Object.entries(query)) {
      url.searchParams.set(name, value);
    }
    const headers = { authorization: `Bearer ${this.token}`, accept: "application/json" };
    if (body !== undefined) {
      headers["content-type"] = "application/json";
    }
    const response = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    let parsed = null;
    if (text.length > 0) {
      try {
        parsed = JSON.parse(text);
      } catch {
        assert.fail(`${method} ${path}: HTTP ${response.status} with a body that is not JSON: ${text.slice(0, 300)}`);
      }
    }
    return { status: response.status, body: parsed };
  }

  async receiver() {
    if (this._receiver === null) {
      this._receiver = await Receiver.start();
    }
    return this._receiver;
  }

  async app(fields = {}) {
    const uid = fields.uid ?? unique("app");
    return this.svix.application.create({ name: `js compat ${uid}`, uid, ...fields });
  }

  /** An endpoint and its signing secret. */
  async endpoint(appId, url, fields = {}) {
    const endpoint = await this.svix.endpoint.create(appId, { url, ...fields });
    const { key } = await this.svix.endpoint.getSecret(appId, endpoint.id);
    return { endpoint, secret: key };
  }

  async ensureEventType(name, fields = {}) {
    try {
      await this.svix.eventType.create({ name, description: `js compat ${name}`, ...fields });
    } catch (error) {
      if (!(error instanceof ApiException) || error.code !== 409) {
        throw error;
      }
    }
  }

  /** The message's attempts once `n` have finished (not pending or sending), oldest first. */
  async attempts(appId, msgId, n, timeoutMs = DELIVERY_TIMEOUT_MS) {
    const data = await poll(
      async () => {
        const page = await this.svix.messageAttempt.listByMsg(appId, msgId);
        const finished = page.data.filter((a) => a.status !== 1 && a.status !== 3);
        return finished.length >= n ? page.data : null;
      },
      `${n} recorded attempt(s) for ${msgId}`,
      timeoutMs,
    );
    return [...data].sort((a, b) => a.timestamp - b.timestamp);
  }

  async close() {
    if (this._receiver !== null) {
      await this._receiver.close();
    }
  }
}

/**
 * Makes an area file a script: `node <area>.mjs <scenario>` runs that scenario,
 * `node <area>.mjs` runs all of them in order, `node <area>.mjs --list` prints their names.
 * Call it (without `await`) at the end of the area file with `import.meta`.
 */
export function runIfMain(meta) {
  if (process.argv[1] !== fileURLToPath(meta.url)) {
    return;
  }
  import(meta.url).then((module) => runScenarios(meta.url, module, process.argv.slice(2)));
}

async function runScenarios(url, module, args) {
  const area = fileURLToPath(url).split("/").pop().replace(/\.mjs$/, "");
  const all = Object.entries(module).filter(([, value]) => typeof value === "function");
  if (args[0] === "--list") {
    console.log(JSON.stringify(all.map(([name]) => name)));
    return;
  }
  const names = args.length === 0 ? all.map(([name]) => name) : args;
  for (const name of names) {
    const result = await runOne(area, module, name);
    if (!result.ok) {
      console.error(result.message);
      process.exit(result.usage ? 2 : 1);
    }
    console.log(result.message);
  }
  // Open keep-alive sockets of fetch must not hold the process.
  process.exit(0);
}

/** Runs one scenario; never throws. */
async function runOne(area, module, name) {
  const all = Object.keys(module).filter((key) => typeof module[key] === "function");
  const scenario = module[name];
  if (typeof scenario !== "function") {
    return { ok: false, usage: true, message: `${area}.mjs has no scenario ${name}; it has: ${all.join(", ")}` };
  }
  const serverUrl = process.env.HOOKD_URL;
  const token = process.env.HOOKD_TOKEN;
  if (!serverUrl || !token) {
    return { ok: false, usage: true, message: "HOOKD_URL and HOOKD_TOKEN must name the hookd under test and its admin token" };
  }
  const t = new Context(serverUrl.replace(/\/+$/, ""), token);
  const started = Date.now();
  try {
    await scenario(t);
  } catch (error) {
    return { ok: false, message: `FAIL ${area}.${name}: ${formatError(error)}` };
  } finally {
    await t.close().catch(() => {});
  }
  return { ok: true, message: `ok ${area}.${name} (${Date.now() - started} ms)` };
}

/**
 * The worker compat/test_js_sdk.py keeps for a session (`node worker.mjs`), so that each test
 * does not pay for starting node and loading the SDK: reads one `{"area", "scenario"}` JSON
 * line at a time from stdin, runs that scenario, and answers one line `@@result {json}`.
 */
export async function serveScenarios() {
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === "") {
      continue;
    }
    let result;
    try {
      const { area, scenario } = JSON.parse(line);
      const module = await import(new URL(`./${area}.mjs`, import.meta.url));
      result = await runOne(area, module, scenario);
    } catch (error) {
      result = { ok: false, message: `the worker could not run ${line}: ${formatError(error)}` };
    }
    process.stdout.write(`@@result ${JSON.stringify(result)}\n`);
  }
  process.exit(0);
}

function formatError(error) {
  if (error instanceof ApiException) {
    return `the SDK call failed with HTTP ${error.code}: ${describe(error.body)}\n${error.stack}`;
  }
  return error?.stack ?? String(error);
}
