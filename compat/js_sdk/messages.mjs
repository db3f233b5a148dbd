// Messages through the JS SDK: create (with content, lean, with an idempotency key, with an
// eventId, with an inline application), get, list with every filter the SDK sends, precheck,
// expunge content, and the delivery itself verified with the SDK's `Webhook` class.
import assert from "node:assert/strict";
import { Webhook, WebhookVerificationError, messageInRaw } from "svix";
import {
  expectedSignature,
  rejectsWith,
  rejectsWithValidation,
  runIfMain,
  signatures,
  unique,
  verifyDelivery,
} from "./lib.mjs";

export async function message_create_get_list(t) {
  const app = await t.app();
  const payload = { type: "invoice.paid", id: "inv_1", amount: 1200, nested: { ok: true }, list: [1, 2] };
  const created = await t.svix.message.create(
    app.id,
    { eventType: "invoice.paid", payload, channels: ["acme"], tags: ["t1"] },
    { withContent: true },
  );
  assert.ok(created.id.startsWith("msg_"), created.id);
  assert.equal(created.eventType, "invoice.paid");
  assert.deepEqual(created.payload, payload);
  assert.deepEqual(created.channels, ["acme"]);
  assert.ok(!Number.isNaN(created.timestamp.getTime()));

  // The SDK's default create asks for ?with_content=false.
  const lean = await t.svix.message.create(app.id, { eventType: "invoice.voided", payload: { n: 2 } });
  assert.deepEqual(lean.payload, {});

  assert.deepEqual((await t.svix.message.get(app.id, created.id)).payload, {});
  const got = await t.svix.message.get(app.uid, created.id, { withContent: true });
  assert.equal(got.id, created.id);
  assert.deepEqual(got.payload, payload);
  assert.deepEqual(got.channels, ["acme"]);

  const listed = await t.svix.message.list(app.id);
  assert.deepEqual(new Set(listed.data.map((m) => m.id)), new Set([created.id, lean.id]));
  assert.equal(listed.done, true);
  const ids = async (options) => (await t.svix.message.list(app.id, options)).data.map((m) => m.id);
  const byChannel = await t.svix.message.list(app.id, { channel: "acme", withContent: true });
  assert.deepEqual(byChannel.data.map((m) => m.id), [created.id]);
  assert.deepEqual(byChannel.data[0].payload, payload);
  assert.deepEqual(await ids({ tag: "t1" }), [created.id]);
  assert.deepEqual(await ids({ eventTypes: ["invoice.voided"] }), [lean.id]);
  assert.deepEqual(new Set(await ids({ eventTypes: ["invoice.paid", "invoice.voided"] })), new Set([created.id, lean.id]));
  // Dates go out as Date.toISOString(): milliseconds and `Z`.
  const hourAgo = new Date(Date.now() - 3_600_000);
  const inAnHour = new Date(Date.now() + 3_600_000);
  assert.deepEqual(await ids({ before: inAnHour, after: hourAgo, limit: 1 }), [lean.id]);
  assert.deepEqual(await ids({ before: hourAgo }), []);
  assert.deepEqual(await ids({ after: inAnHour }), []);
  const first = await t.svix.message.list(app.id, { limit: 1 });
  assert.equal(first.done, false);
  const rest = await t.svix.message.list(app.id, { limit: 1, iterator: first.iterator });
  assert.deepEqual(rest.data.map((m) => m.id), [created.id]);

  await rejectsWith(404, t.svix.message.get(app.id, "msg_doesnotexist"), "an unknown message");
}

export async function message_delivery_is_signed(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/deliver"));
  const payload = { hello: "world", unicode: "h\u00e9 \u2603", n: 1.5 };
  const msg = await t.svix.message.create(app.id, { eventType: "user.signup", payload });
  const [request] = await receiver.waitFor(1, { path: "/deliver" });
  verifyDelivery(request, secret, msg.id, payload);
  assert.equal(signatures(request.headers["webhook-signature"]).length, 1);
  assert.equal(expectedSignature(secret, request), request.headers["webhook-signature"]);
  // A tampered body does not verify.
  assert.throws(
    () => new Webhook(secret).verify(request.body.toString("utf8") + " ", request.headers),
    WebhookVerificationError,
  );

  const [attempt] = await t.attempts(app.id, msg.id, 1);
  assert.equal(attempt.status, 0);
  assert.equal(attempt.statusText, "success");
  assert.equal(attempt.responseStatusCode, 200);
  assert.equal(attempt.triggerType, 0);
  assert.equal(attempt.endpointId, endpoint.id);
  assert.equal(attempt.msgId, msg.id);
  assert.equal(attempt.url, receiver.endpointUrl("/deliver"));
  assert.ok(attempt.responseDurationMs >= 0);
}

export async function message_idempotency_key(t) {
  const app = await t.app();
  const key = unique("idem");
  const body = { eventType: "idem.test", payload: { i: 1 } };
  const first = await t.svix.message.create(app.id, body, { idempotencyKey: key });
  const second = await t.svix.message.create(app.id, body, { idempotencyKey: key });
  assert.equal(second.id, first.id);
  assert.deepEqual((await t.svix.message.list(app.id)).data.map((m) => m.id), [first.id]);
  // Without a key the SDK makes one of its own (`auto_<uuid>`) for every POST: two calls,
  // two messages.
  const a = await t.svix.message.create(app.id, body);
  const b = await t.svix.message.create(app.id, body);
  assert.notEqual(a.id, b.id);
}

export async function message_event_id_conflicts(t) {
  const app = await t.app();
  const eventId = unique("evt");
  const first = await t.svix.message.create(app.id, { eventType: "dedupe.test", payload: { n: 1 }, eventId });
  assert.equal(first.eventId, eventId);
  await rejectsWith(409, t.svix.message.create(app.id, { eventType: "dedupe.test", payload: { n: 2 }, eventId }), "a repeated eventId");
  assert.deepEqual((await t.svix.message.list(app.id)).data.map((m) => m.id), [first.id]);
  const other = await t.app();
  const elsewhere = await t.svix.message.create(other.id, { eventType: "dedupe.test", payload: { n: 3 }, eventId });
  assert.notEqual(elsewhere.id, first.id);
}

export async function message_with_inline_application(t) {
  const uid = unique("app");
  const msg = await t.svix.message.create(uid, {
    eventType: "inline.app",
    payload: { i: 1 },
    application: { name: "Inline", uid },
  });
  const app = await t.svix.application.get(uid);
  assert.equal(app.name, "Inline");
  assert.equal((await t.svix.message.get(uid, msg.id)).id, msg.id);
  const again = await t.svix.message.create(uid, {
    eventType: "inline.app",
    payload: { i: 2 },
    application: { name: "Other", uid },
  });
  assert.equal((await t.svix.application.get(uid)).id, app.id);
  assert.deepEqual(new Set((await t.svix.message.list(app.id)).data.map((m) => m.id)), new Set([msg.id, again.id]));
}

export async function message_precheck(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  assert.equal((await t.svix.message.precheck(app.id, { eventType: "precheck.paid" })).active, false);
  const { endpoint } = await t.endpoint(app.id, receiver.endpointUrl("/precheck"), {
    eventTypes: ["precheck.voided"],
    channels: ["eu"],
  });
  assert.equal((await t.svix.message.precheck(app.id, { eventType: "precheck.paid" })).active, false);
  assert.equal((await t.svix.message.precheck(app.id, { eventType: "precheck.voided" })).active, false);
  const onEu = { eventType: "precheck.voided", channels: ["us", "eu"] };
  assert.equal((await t.svix.message.precheck(app.id, onEu)).active, true);
  assert.equal((await t.svix.message.precheck(app.uid, onEu)).active, true);
  await t.svix.endpoint.patch(app.id, endpoint.id, { disabled: true });
  assert.equal((await t.svix.message.precheck(app.id, onEu)).active, false);
  assert.deepEqual((await t.svix.message.list(app.id)).data, []);
  assert.deepEqual(receiver.requests("/precheck"), []);

  await rejectsWithValidation(t.svix.message.precheck(app.id, { eventType: "not a type!" }), ["body", "eventType"]);
  await rejectsWith(404, t.svix.message.precheck("app_doesnotexist", { eventType: "a" }), "an unknown application");
}

export async function message_expunge_content(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  await t.endpoint(app.id, receiver.endpointUrl("/expunge"));
  const msg = await t.svix.message.create(app.id, { eventType: "expunge.test", payload: { card: "4242" } });
  await t.attempts(app.id, msg.id, 1);
  assert.equal(await t.svix.message.expungeContent(app.id, msg.id), undefined);
  const expunged = await t.svix.message.get(app.id, msg.id, { withContent: true });
  assert.deepEqual(expunged.payload, {});
  assert.equal(expunged.eventType, "expunge.test");
  await rejectsWith(404, t.svix.message.expungeContent(app.id, "msg_doesnotexist"), "an unknown message");
}

export async function message_in_raw(t) {
  // messageInRaw sends `payload: {}` and the text in `transformationsParams.rawPayload`;
  // hookd used to drop the text and send `{}`.
  const receiver = await t.receiver();
  const app = await t.app();
  const { secret } = await t.endpoint(app.id, receiver.endpointUrl("/raw"));
  const raw = '{"amount": 1.50,  "id":"inv_1"}';
  const msg = await t.svix.message.create(app.id, messageInRaw("raw.sent", raw), { withContent: true });
  assert.deepEqual(msg.payload, { amount: 1.5, id: "inv_1" });
  const [request] = await receiver.waitFor(1, { path: "/raw" });
  assert.equal(request.body.toString("utf8"), raw, "the raw payload is sent as it was written");
  verifyDelivery(request, secret, msg.id, { amount: 1.5, id: "inv_1" });
  const typed = await t.svix.message.create(app.id, messageInRaw("raw.sent", raw, "application/json"));
  await receiver.waitFor(2, { path: "/raw" });
  assert.equal(receiver.requests("/raw")[1].headers["webhook-id"], typed.id);

  // What hookd cannot send as meant is a 422 naming the field, and nothing is created.
  await rejectsWithValidation(
    t.svix.message.create(app.id, messageInRaw("raw.sent", "plain text", "text/plain")),
    ["body", "transformationsParams", "headers", "content-type"],
  );
  await rejectsWithValidation(
    t.svix.message.create(app.id, messageInRaw("raw.sent", "plain text")),
    ["body", "transformationsParams", "rawPayload"],
  );
  assert.equal((await t.svix.message.list(app.id)).data.length, 2);
}

export async function message_refusals(t) {
  const app = await t.app();
  await rejectsWithValidation(
    t.svix.message.create(app.id, { eventType: "not a type!", payload: {} }),
    ["body", "eventType"],
    "an invalid event type",
  );
  const big = await rejectsWith(413, t.svix.message.create(app.id, { eventType: "big.one", payload: { blob: "x".repeat(1024 * 1024 + 1) } }), "an oversize payload");
  assert.ok(big.body.code, JSON.stringify(big.body));
  assert.deepEqual((await t.svix.message.list(app.id)).data, []);
}

runIfMain(import.meta);
