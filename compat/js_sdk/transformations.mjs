// Endpoint transformations through the JS SDK. svix 2.5.0 names them
// `endpoint.transformation.get` / `endpoint.transformation.patch` and, deprecated,
// `endpoint.transformationPartialUpdate` (the same PATCH with `EndpointTransformationIn`); the
// ingest twins are `ingest.endpoint.transformation.get`/`patch`. A delivery's payload, method,
// URL and headers rewritten by the function, checked at a loopback receiver and verified with
// the SDK's `Webhook` over the transformed body; code that cannot run refused at patch time
// with a 422; a cancelled delivery sends nothing; a function that throws, loops or returns an
// unusable webhook gives the delivery up; a resend runs the current code.
import assert from "node:assert/strict";
import { Webhook, WebhookVerificationError } from "svix";
import { rejectsWith, rejectsWithValidation, runIfMain, sleep, unique, verifyDelivery } from "./lib.mjs";

const CODE = `function handler(webhook) {
    webhook.payload = { id: webhook.payload.id, via: "transformation", type: webhook.eventType };
    webhook.url = webhook.url.replace("/before", "/after");
    webhook.method = "PUT";
    webhook.headers["x-transformed"] = "yes";
    return webhook;
}`;

function webhookHeaders(request) {
  return Object.fromEntries(Object.entries(request.headers).filter(([k]) => k.startsWith("webhook-")));
}

export async function endpoint_transformation_get_patch_and_delivery(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/before"));
  const transformation = t.svix.endpoint.transformation;

  const empty = await transformation.get(app.id, endpoint.id);
  assert.equal(empty.code ?? null, null, JSON.stringify(empty));
  assert.equal(empty.enabled, false);

  assert.equal(await transformation.patch(app.id, endpoint.id, { code: CODE, enabled: true }), undefined);
  const shown = await transformation.get(app.uid, endpoint.id);
  assert.deepEqual([shown.code, shown.enabled], [CODE, true]);
  assert.ok(shown.updatedAt instanceof Date && Math.abs(shown.updatedAt.getTime() - Date.now()) < 60_000, String(shown.updatedAt));

  const msg = await t.svix.message.create(app.id, { eventType: "order.created", payload: { id: "ord_1", secret: "x" } });
  const [delivered] = await receiver.waitFor(1, { path: "/after" });
  assert.equal(delivered.method, "PUT");
  assert.equal(delivered.headers["x-transformed"], "yes");
  assert.equal(delivered.headers["webhook-id"], msg.id);
  const expected = { id: "ord_1", via: "transformation", type: "order.created" };
  assert.deepEqual(JSON.parse(delivered.body.toString("utf8")), expected);
  // The signature covers the transformed body: the SDK's own verifier accepts it with the
  // endpoint's secret, and refuses the payload that was stored.
  // (svix 2.5.0's `Webhook.verify` returns nothing: it throws when a signature does not match.)
  new Webhook(secret).verify(delivered.body.toString("utf8"), webhookHeaders(delivered));
  assert.throws(
    () => new Webhook(secret).verify(JSON.stringify({ id: "ord_1", secret: "x" }), webhookHeaders(delivered)),
    WebhookVerificationError,
  );
  assert.equal(receiver.requests("/before").length, 0);
  // The stored message is untouched.
  assert.deepEqual((await t.svix.message.get(app.id, msg.id, { withContent: true })).payload, { id: "ord_1", secret: "x" });

  // Only the switch, with the deprecated method: the code stays, and deliveries go out as
  // stored again (POST, the original URL, the stored bytes).
  assert.equal(await t.svix.endpoint.transformationPartialUpdate(app.id, endpoint.id, { enabled: false }), undefined);
  const off = await transformation.get(app.id, endpoint.id);
  assert.deepEqual([off.code, off.enabled], [CODE, false]);
  const plain = await t.svix.message.create(app.id, { eventType: "order.created", payload: { id: "ord_2" } });
  const [untouched] = await receiver.waitFor(1, { path: "/before" });
  verifyDelivery(untouched, secret, plain.id, { id: "ord_2" });
  assert.equal(untouched.headers["x-transformed"], undefined);

  // `code: null` removes the code (and an enabled switch without code sends as stored).
  await transformation.patch(app.id, endpoint.id, { code: null, enabled: true });
  const removed = await transformation.get(app.id, endpoint.id);
  assert.equal(removed.code ?? null, null, JSON.stringify(removed));

  await rejectsWith(404, transformation.get(app.id, "ep_doesnotexist"), "the transformation of an unknown endpoint");
  await rejectsWith(404, transformation.patch(app.id, "ep_doesnotexist", { enabled: true }), "patching an unknown endpoint");
}

export async function endpoint_transformation_bad_code_is_422(t) {
  const app = await t.app();
  const { endpoint } = await t.endpoint(app.id, "https://example.com/transform");
  const transformation = t.svix.endpoint.transformation;
  const kept = "function handler(w) { w.payload = { kept: true }; return w; }";
  await transformation.patch(app.id, endpoint.id, { code: kept, enabled: true });

  const refusals = [
    ["a syntax error", "function handler(w) {"],
    ["a top level that throws", 'throw new Error("at load"); function handler(w) { return w; }'],
    ["no handler", "let handler = 1;"],
    ["a top level that never ends", "for (;;) {} function handler(w) { return w; }"],
  ];
  for (const [what, code] of refusals) {
    const error = await rejectsWithValidation(transformation.patch(app.id, endpoint.id, { code, enabled: true }), ["body", "code"], what);
    assert.ok(error.body.detail[0].msg.length > 0, `${what}: ${JSON.stringify(error.body)}`);
    // The deprecated method is refused alike.
    await rejectsWithValidation(t.svix.endpoint.transformationPartialUpdate(app.id, endpoint.id, { code }), ["body", "code"], `${what} (deprecated method)`);
  }
  const syntax = await rejectsWith(422, transformation.patch(app.id, endpoint.id, { code: "function handler(w) {" }));
  assert.match(syntax.body.detail[0].msg, /syntax|expect|unexpected/i, JSON.stringify(syntax.body));
  // Svix's `variables` are not supported: a non-empty map is refused.
  const variables = await rejectsWith(422, transformation.patch(app.id, endpoint.id, { code: kept, variables: { a: "b" } }), "variables");
  assert.equal(variables.body.detail[0].loc.at(-1), "variables", JSON.stringify(variables.body));

  // Nothing of it was stored.
  const shown = await transformation.get(app.id, endpoint.id);
  assert.deepEqual([shown.code, shown.enabled], [kept, true]);
}

export async function endpoint_transformation_cancel_and_failure(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/maybe"));
  const code = `function handler(webhook) {
    if (webhook.payload.skip) { webhook.cancel = true; }
    if (webhook.payload.explode) { throw new TypeError("exploded on purpose"); }
    return webhook;
  }`;
  await t.svix.endpoint.transformation.patch(app.id, endpoint.id, { code, enabled: true });

  const skipped = await t.svix.message.create(app.id, { eventType: "order.maybe", payload: { skip: true } });
  const failed = await t.svix.message.create(app.id, { eventType: "order.maybe", payload: { explode: true } });
  const sent = await t.svix.message.create(app.id, { eventType: "order.maybe", payload: { skip: false } });
  const [request] = await receiver.waitFor(1, { path: "/maybe" });
  verifyDelivery(request, secret, sent.id, { skip: false });

  // Cancelled: done without a request, recorded as a success with no response code.
  const [cancelled] = await t.attempts(app.id, skipped.id, 1);
  assert.equal(cancelled.status, 0, JSON.stringify(cancelled));
  assert.equal(cancelled.responseStatusCode, 0, JSON.stringify(cancelled));
  assert.match(cancelled.response, /cancelled by the endpoint's transformation/, JSON.stringify(cancelled));
  assert.equal(cancelled.endpointId, endpoint.id);

  // Thrown: failed at once, with the reason, and not retried (the function is deterministic).
  const [thrown] = await t.attempts(app.id, failed.id, 1);
  assert.equal(thrown.status, 2, JSON.stringify(thrown));
  assert.match(thrown.response, /transformation failed.*TypeError.*exploded on purpose/s, JSON.stringify(thrown));
  await sleep(2_500);
  assert.equal((await t.svix.messageAttempt.listByMsg(app.id, failed.id)).data.length, 1, "a failed transformation was retried");
  const destinations = await t.svix.messageAttempt.listAttemptedDestinations(app.id, failed.id);
  assert.deepEqual(destinations.data.map((d) => [d.id, d.status]), [[endpoint.id, 2]]);

  // Neither reached the receiver.
  assert.deepEqual(receiver.requests("/maybe").map((r) => r.headers["webhook-id"]), [sent.id]);
}

export async function endpoint_transformation_resend_and_sandbox_limits(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/resent"));
  const transformation = t.svix.endpoint.transformation;
  await transformation.patch(app.id, endpoint.id, { code: 'function handler(w) { w.payload.seen = "é✓"; return w; }', enabled: true });
  const msg = await t.svix.message.create(app.id, { eventType: "order.resent", payload: { n: "ü", f: 1.5 } });
  const [first] = await receiver.waitFor(1, { path: "/resent" });
  assert.deepEqual(JSON.parse(first.body.toString("utf8")), { n: "ü", f: 1.5, seen: "é✓" });
  assert.equal(Number(first.headers["content-length"]), first.body.length);
  new Webhook(secret).verify(first.body.toString("utf8"), first.headers);

  // A resend runs the endpoint's code as it is now.
  await transformation.patch(app.id, endpoint.id, { code: "function handler(w) { w.payload.version = 2; return w; }" });
  await t.svix.messageAttempt.resend(app.id, msg.id, endpoint.id);
  const [, resent] = await receiver.waitFor(2, { path: "/resent" });
  assert.deepEqual(JSON.parse(resent.body.toString("utf8")), { n: "ü", f: 1.5, version: 2 });
  new Webhook(secret).verify(resent.body.toString("utf8"), resent.headers);

  // What a handler may not do fails the attempt with the reason, and sends nothing.
  const failures = [
    ["function handler(w) { for (;;) {} }", /ran longer than 100 ms/],
    ['function handler(w) { w.headers["webhook-id"] = "forged"; return w; }', /webhook-id.*cannot be customized/],
    ['function handler(w) { w.url = "ftp://example.com/"; return w; }', /url scheme must be http or https/],
    ['function handler(w) { w.method = "DELETE"; return w; }', /method must be "POST" or "PUT"/],
    ["function handler(w) { return null; }", /must return the webhook object/],
  ];
  for (const [code, reason] of failures) {
    await transformation.patch(app.id, endpoint.id, { code });
    const failed = await t.svix.message.create(app.id, { eventType: "order.resent", payload: { n: 0 } });
    const [attempt] = await t.attempts(app.id, failed.id, 1);
    assert.equal(attempt.status, 2, `${code}: ${JSON.stringify(attempt)}`);
    assert.equal(attempt.responseStatusCode, 0, code);
    assert.match(attempt.response, reason, code);
  }
  assert.equal(receiver.requests("/resent").length, 2);
}

export async function ingest_endpoint_transformation(t) {
  const receiver = await t.receiver();
  const source = await t.svix.ingest.source.create({ name: "Generic", uid: unique("src"), type: "generic-webhook" });
  const endpoints = t.svix.ingest.endpoint;
  const endpoint = await endpoints.create(source.id, { url: receiver.endpointUrl("/in") });
  const secret = (await endpoints.getSecret(source.id, endpoint.id)).key;
  const empty = await endpoints.transformation.get(source.id, endpoint.id);
  assert.equal(empty.code ?? null, null, JSON.stringify(empty));

  await rejectsWithValidation(endpoints.transformation.patch(source.id, endpoint.id, { code: "let handler = 1;" }), ["body", "code"]);
  const code = "function handler(w) { w.payload = { received: w.payload }; return w; }";
  await endpoints.transformation.patch(source.id, endpoint.id, { code, enabled: true });
  const shown = await endpoints.transformation.get(source.id, endpoint.id);
  assert.deepEqual([shown.code, shown.enabled], [code, true]);

  const response = await fetch(source.ingestUrl, { method: "POST", headers: { "content-type": "application/json" }, body: '{"n": 1}' });
  assert.equal(response.status, 200, await response.text());
  const [forwarded] = await receiver.waitFor(1, { path: "/in" });
  new Webhook(secret).verify(forwarded.body.toString("utf8"), webhookHeaders(forwarded));
  assert.deepEqual(JSON.parse(forwarded.body.toString("utf8")), { received: { n: 1 } });
  await t.svix.ingest.source.delete(source.id);
}

runIfMain(import.meta);
