// Endpoints through the JS SDK: create/get/list, upsert, patch, delete, custom headers,
// secrets (get, rotate, given keys), stats, attempt stats and send-example; deliveries are
// checked with the SDK's own `Webhook` class.
import assert from "node:assert/strict";
import {
  expectedSignature,
  rejectsWith,
  rejectsWithValidation,
  runIfMain,
  signatures,
  unique,
  verifyDelivery,
} from "./lib.mjs";

export async function endpoint_create_get_list(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const eventType = unique("jscompat") + ".created";
  await t.ensureEventType(eventType);
  const uid = unique("ep");
  const endpoint = await t.svix.endpoint.create(app.id, {
    url: receiver.endpointUrl("/hook"),
    uid,
    description: "the endpoint",
    eventTypes: [eventType],
    channels: ["project_1"],
    metadata: { owner: "compat" },
    headers: { "X-Compat": "yes" },
    throttleRate: 10,
  });
  assert.ok(endpoint.id && endpoint.id !== uid);
  assert.equal(endpoint.uid, uid);
  assert.equal(endpoint.url, receiver.endpointUrl("/hook"));
  assert.equal(endpoint.description, "the endpoint");
  assert.deepEqual(endpoint.eventTypes, [eventType]);
  assert.deepEqual(endpoint.channels, ["project_1"]);
  assert.deepEqual(endpoint.metadata, { owner: "compat" });
  assert.equal(endpoint.throttleRate, 10);
  assert.ok(!endpoint.disabled);
  assert.ok(!Number.isNaN(endpoint.createdAt.getTime()));

  for (const appRef of [app.id, app.uid]) {
    for (const endpointRef of [endpoint.id, uid]) {
      const got = await t.svix.endpoint.get(appRef, endpointRef);
      assert.equal(got.id, endpoint.id);
      assert.deepEqual(got.eventTypes, [eventType]);
    }
  }
  const listed = await t.svix.endpoint.list(app.id);
  assert.deepEqual(listed.data.map((e) => e.id), [endpoint.id]);
  assert.equal(listed.done, true);

  const minimal = await t.svix.endpoint.create(app.id, { url: receiver.endpointUrl("/min") });
  assert.equal(minimal.description, "");
  assert.deepEqual(minimal.metadata, {});
  assert.ok(!minimal.eventTypes?.length && !minimal.channels?.length);

  const pages = [];
  let iterator = null;
  for (let round = 0; round < 10; round++) {
    const page = await t.svix.endpoint.list(app.id, { limit: 1, iterator, order: "ascending" });
    pages.push(...page.data.map((e) => e.id));
    if (page.done) {
      break;
    }
    iterator = page.iterator;
  }
  assert.deepEqual(pages, [endpoint.id, minimal.id]);
  const newest = await t.svix.endpoint.list(app.id, { limit: 1, order: "descending" });
  assert.deepEqual(newest.data.map((e) => e.id), [minimal.id]);
}

export async function endpoint_upsert_patch_delete(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const eventType = unique("jscompat") + ".put";
  await t.ensureEventType(eventType);
  const endpoint = await t.svix.endpoint.create(app.id, {
    url: receiver.endpointUrl("/before"),
    uid: unique("ep"),
    description: "before",
    channels: ["c1"],
    metadata: { a: "1" },
  });
  const updated = await t.svix.endpoint.upsert(app.id, endpoint.id, {
    url: receiver.endpointUrl("/after"),
    uid: endpoint.uid,
    description: "after",
    eventTypes: [eventType],
    metadata: { b: "2" },
  });
  assert.equal(updated.id, endpoint.id);
  assert.equal(updated.url, receiver.endpointUrl("/after"));
  assert.deepEqual(updated.eventTypes, [eventType]);
  assert.deepEqual(updated.metadata, { b: "2" });
  assert.ok(!updated.channels?.length, "PUT replaces: channels were not sent");

  const patched = await t.svix.endpoint.patch(app.id, endpoint.id, { description: "patched" });
  assert.equal(patched.description, "patched");
  assert.equal(patched.url, updated.url);
  assert.deepEqual(patched.eventTypes, [eventType]);
  const disabled = await t.svix.endpoint.patch(app.id, endpoint.id, { disabled: true, channels: ["c2"] });
  assert.equal(disabled.disabled, true);
  assert.deepEqual(disabled.channels, ["c2"]);
  // An explicit null clears a nullable field; the SDK sends it as null.
  const cleared = await t.svix.endpoint.patch(app.id, endpoint.id, { eventTypes: null });
  assert.ok(!cleared.eventTypes?.length, JSON.stringify(cleared));
  assert.equal((await t.svix.endpoint.get(app.id, endpoint.id)).description, "patched");

  assert.equal(await t.svix.endpoint.delete(app.id, endpoint.uid), undefined);
  await rejectsWith(404, t.svix.endpoint.get(app.id, endpoint.id), "a deleted endpoint");
  assert.deepEqual((await t.svix.endpoint.list(app.id)).data, []);
  await rejectsWith(404, t.svix.endpoint.get(app.id, "ep_doesnotexist"), "an unknown endpoint");
  await rejectsWith(404, t.svix.endpoint.delete(app.id, "ep_doesnotexist"), "deleting an unknown endpoint");
}

export async function endpoint_invalid_url_is_422(t) {
  const app = await t.app();
  for (const url of ["not a url", "ftp://example.com/hook", ""]) {
    await rejectsWithValidation(t.svix.endpoint.create(app.id, { url }), ["body", "url"], `url ${JSON.stringify(url)}`);
  }
  assert.deepEqual((await t.svix.endpoint.list(app.id)).data, []);
}

export async function endpoint_headers(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/h"), {
    headers: { "X-First": "1", Authorization: "Bearer hidden" },
  });
  const shown = await t.svix.endpoint.getHeaders(app.id, endpoint.id);
  assert.deepEqual(shown.headers, { "X-First": "1" });
  assert.deepEqual(shown.sensitive, ["Authorization"]);

  assert.equal(await t.svix.endpoint.setHeaders(app.id, endpoint.id, { headers: { "X-A": "a", "X-B": "b" } }), undefined);
  const set = await t.svix.endpoint.getHeaders(app.id, endpoint.id);
  assert.deepEqual(lower(set.headers), { "x-a": "a", "x-b": "b" });
  assert.equal(
    await t.svix.endpoint.patchHeaders(app.id, endpoint.id, { headers: { "X-C": "c" }, deleteHeaders: ["X-A"] }),
    undefined,
  );
  const patched = await t.svix.endpoint.getHeaders(app.uid, endpoint.id);
  assert.deepEqual(lower(patched.headers), { "x-b": "b", "x-c": "c" });

  const msg = await t.svix.message.create(app.id, { eventType: "headers.test", payload: { h: true } });
  const [request] = await receiver.waitFor(1, { path: "/h" });
  verifyDelivery(request, secret, msg.id, { h: true });
  assert.equal(request.headers["x-b"], "b");
  assert.equal(request.headers["x-c"], "c");
  assert.equal(request.headers["x-a"], undefined);

  await rejectsWithValidation(
    t.svix.endpoint.setHeaders(app.id, endpoint.id, { headers: { "webhook-id": "x" } }),
    ["body", "headers", "webhook-id"],
    "a reserved header",
  );
  await rejectsWith(404, t.svix.endpoint.getHeaders(app.id, "ep_doesnotexist"), "headers of an unknown endpoint");
}

function lower(headers) {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

export async function endpoint_secret_get_and_rotate(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const given = "whsec_" + Buffer.from("0123456789abcdef0123456789abcdef").toString("base64");
  const { endpoint: withGiven, secret: givenShown } = await t.endpoint(app.id, receiver.endpointUrl("/given"), {
    secret: given,
  });
  assert.equal(givenShown, given);

  const { endpoint, secret: oldSecret } = await t.endpoint(app.id, receiver.endpointUrl("/rot"));
  assert.ok(oldSecret.startsWith("whsec_"));
  const raw = Buffer.from(oldSecret.slice("whsec_".length), "base64");
  assert.ok(raw.length >= 24 && raw.length <= 64, `secret of ${raw.length} bytes`);
  assert.equal((await t.svix.endpoint.getSecret(app.uid, endpoint.id)).key, oldSecret);

  // The SDK's rotateSecret sends `{}` by default: a new random key.
  assert.equal(await t.svix.endpoint.rotateSecret(app.id, endpoint.id, {}), undefined);
  const newSecret = (await t.svix.endpoint.getSecret(app.id, endpoint.id)).key;
  assert.ok(newSecret !== oldSecret && newSecret.startsWith("whsec_"));

  const next = "whsec_" + Buffer.alloc(32, 9).toString("base64");
  await t.svix.endpoint.rotateSecret(app.id, withGiven.id, { key: next });
  assert.equal((await t.svix.endpoint.getSecret(app.id, withGiven.id)).key, next);

  const msg = await t.svix.message.create(app.id, { eventType: "rotate.test", payload: { r: 1 } });
  const [rotated] = await receiver.waitFor(1, { path: "/rot" });
  const sigs = signatures(rotated.headers["webhook-signature"]);
  assert.equal(sigs.length, 2, rotated.headers["webhook-signature"]);
  assert.ok(sigs.includes(expectedSignature(oldSecret, rotated)));
  assert.ok(sigs.includes(expectedSignature(newSecret, rotated)));
  verifyDelivery(rotated, oldSecret, msg.id, { r: 1 });
  verifyDelivery(rotated, newSecret, msg.id, { r: 1 });
  const [toGiven] = await receiver.waitFor(1, { path: "/given" });
  verifyDelivery(toGiven, next, msg.id, { r: 1 });
  verifyDelivery(toGiven, given, msg.id, { r: 1 });

  await rejectsWith(404, t.svix.endpoint.getSecret(app.id, "ep_doesnotexist"), "the secret of an unknown endpoint");
}

export async function endpoint_stats_and_attempt_stats(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  receiver.script("/stats", [500, 200]);
  const { endpoint } = await t.endpoint(app.id, receiver.endpointUrl("/stats"));
  const msg = await t.svix.message.create(app.id, { eventType: "stats.test", payload: { n: 1 } });
  await t.attempts(app.id, msg.id, 2, 25_000);

  const stats = await t.svix.endpoint.getStats(app.id, endpoint.id);
  assert.deepEqual(
    [stats.success, stats.pending, stats.sending, stats.fail, stats.canceled],
    [1, 0, 0, 0, 0],
    JSON.stringify(stats),
  );
  const now = new Date();
  const hourAgo = new Date(now.getTime() - 3_600_000);
  const inAnHour = new Date(now.getTime() + 3_600_000);
  // The SDK writes dates with Date.toISOString(): milliseconds and a `Z`.
  const windowed = await t.svix.endpoint.getStats(app.id, endpoint.id, { since: hourAgo, until: inAnHour });
  assert.equal(windowed.success, 1);
  assert.equal((await t.svix.endpoint.getStats(app.id, endpoint.id, { since: new Date("2999-01-01T00:00:00Z") })).success, 0);
  assert.equal((await t.svix.endpoint.getStats(app.id, endpoint.id, { until: hourAgo })).success, 0);

  // svix 2.5.0 has no `getAttemptStats` (the Python SDK 2.9.1 has): the call is made with
  // fetch, its dates written as the JS SDK writes every date query (Date.toISOString()).
  const attemptStats = (query) => t.raw("GET", `/api/v1/app/${app.id}/endpoint/${endpoint.id}/attempt-stats`, { query });
  const all = await attemptStats({});
  assert.equal(all.status, 200, JSON.stringify(all.body));
  assert.deepEqual([all.body.success, all.body.fail, all.body.canceled], [1, 1, 0], JSON.stringify(all.body));
  const recent = await attemptStats({ since: new Date(now.getTime() - 60_000).toISOString(), until: now.toISOString() });
  assert.deepEqual([recent.body.success, recent.body.fail], [1, 1], JSON.stringify(recent.body));
  const future = await attemptStats({ since: new Date(now.getTime() + 7_200_000).toISOString() });
  assert.deepEqual([future.body.success, future.body.fail], [0, 0], JSON.stringify(future.body));
  const backwards = await attemptStats({ since: now.toISOString(), until: hourAgo.toISOString() });
  assert.equal(backwards.status, 422, JSON.stringify(backwards.body));
  assert.deepEqual(backwards.body.detail[0].loc, ["query", "until"]);
  await rejectsWith(404, t.svix.endpoint.getStats(app.id, "ep_doesnotexist"), "stats of an unknown endpoint");
  const unknown = await t.raw("GET", `/api/v1/app/${app.id}/endpoint/ep_doesnotexist/attempt-stats`);
  assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
}

export async function endpoint_send_example(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const eventType = unique("jscompat") + ".user.created";
  await t.svix.eventType.create({
    name: eventType,
    description: "A user was created",
    schemas: { 1: { type: "object", examples: [{ user: "first" }, { user: "second" }] } },
  });
  const { endpoint: chosen, secret } = await t.endpoint(app.id, receiver.endpointUrl("/chosen"), {
    eventTypes: ["other.type"],
  });
  await t.endpoint(app.id, receiver.endpointUrl("/other"));

  const sent = await t.svix.endpoint.sendExample(app.id, chosen.id, { eventType, exampleIndex: 1 });
  assert.equal(sent.eventType, eventType);
  assert.deepEqual(sent.payload, { user: "second" });
  assert.ok(!Number.isNaN(sent.timestamp.getTime()));
  const [request] = await receiver.waitFor(1, { path: "/chosen" });
  verifyDelivery(request, secret, sent.id, { user: "second" });
  const first = await t.svix.endpoint.sendExample(app.uid, chosen.id, { eventType });
  assert.deepEqual(first.payload, { user: "first" });
  await receiver.waitFor(2, { path: "/chosen" });
  for (const message of [sent, first]) {
    const destinations = await t.svix.messageAttempt.listAttemptedDestinations(app.id, message.id);
    assert.deepEqual(destinations.data.map((d) => d.id), [chosen.id]);
  }
  assert.deepEqual(receiver.requests("/other"), []);

  const plain = unique("jscompat") + ".plain";
  await t.svix.eventType.create({ name: plain, description: "no examples" });
  await rejectsWithValidation(t.svix.endpoint.sendExample(app.id, chosen.id, { eventType: plain }), ["body", "eventType"]);
  await rejectsWithValidation(
    t.svix.endpoint.sendExample(app.id, chosen.id, { eventType: plain, exampleIndex: -1 }),
    ["body", "exampleIndex"],
  );
  await rejectsWith(404, t.svix.endpoint.sendExample(app.id, "ep_missing", { eventType: plain }), "an unknown endpoint");
}

runIfMain(import.meta);
