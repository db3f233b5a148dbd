// hookd's features beyond Svix, used from the JS SDK: an event type's `enforceSchema`, an
// endpoint's content `filter`, and ed25519 endpoint secrets (`whsk_` pairs, `keyType` on
// rotate) with each `v1a` signature verified by node's own crypto from the `whpk_` public key
// alone, on transformed deliveries and operational webhooks too, and a sender's `v1a`
// signature checked by an inbound source holding only the `whpk_` key. svix 2.5.0's serializers drop the fields it does not know (`enforceSchema` of
// `EventTypeIn`, `filter` of `EndpointIn`, `keyType` of `EndpointSecretRotateIn`) on the way
// out and in, so those fields are written and read back with `t.raw`; everything else, the
// messages refused or delivered included, goes through the SDK.
import assert from "node:assert/strict";
import { createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from "node:crypto";
import { Webhook } from "svix";
import { poll, rejectsWith, rejectsWithValidation, runIfMain, signatures, sleep, unique, verifyDelivery } from "./lib.mjs";

const ORDER_SCHEMA = {
  type: "object",
  required: ["id", "items"],
  properties: {
    items: { type: "array", items: { required: ["price"], properties: { price: { minimum: 1 } } } },
  },
};

export async function event_type_enforce_schema_refuses_messages(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const { secret } = await t.endpoint(app.id, receiver.endpointUrl("/orders"));
  const name = unique("order.placed");
  const created = await t.raw("POST", "/api/v1/event-type", {
    body: { name, description: "orders", enforceSchema: true, schemas: { 1: ORDER_SCHEMA } },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.equal(created.body.enforceSchema, true);
  // The SDK reads the type (and its schema) but keeps nothing of `enforceSchema`.
  const read = await t.svix.eventType.get(name);
  assert.deepEqual(read.schemas, { 1: ORDER_SCHEMA });
  assert.equal("enforceSchema" in read, false, JSON.stringify(read));

  const idempotencyKey = unique("order");
  const refused = await rejectsWith(
    422,
    t.svix.message.create(app.id, { eventType: name, payload: { id: "o1", items: [{ price: 0 }] } }, { idempotencyKey }),
    "a payload below the schema's minimum",
  );
  const [violation] = refused.body.detail;
  assert.deepEqual(violation.loc, ["body", "payload", "items", "0", "price"], JSON.stringify(refused.body));
  assert.equal(violation.pointer, "/items/0/price");
  assert.equal(violation.rule, "minimum");
  assert.equal(violation.schemaVersion, "1");
  assert.equal(violation.type, "value_error.jsonschema");
  assert.ok(violation.msg.length > 0);
  const missing = await rejectsWith(422, t.svix.message.create(app.id, { eventType: name, payload: { items: [] } }));
  assert.equal(missing.body.detail[0].rule, "required", JSON.stringify(missing.body));

  // Nothing was stored, and the idempotency key was not used up: the corrected request runs.
  assert.deepEqual((await t.svix.message.list(app.id)).data, []);
  const accepted = await t.svix.message.create(app.id, { eventType: name, payload: { id: "o1", items: [{ price: 5 }] } }, { idempotencyKey });
  const [delivered] = await receiver.waitFor(1, { path: "/orders" });
  verifyDelivery(delivered, secret, accepted.id, { id: "o1", items: [{ price: 5 }] });
  assert.deepEqual((await t.svix.message.list(app.id)).data.map((m) => m.id), [accepted.id]);

  // The SDK's upsert (a PUT without `enforceSchema`) keeps enforcement, and a new version of
  // the schema is the contract from the next message on.
  const stricter = { ...ORDER_SCHEMA, required: ["id", "items", "currency"] };
  await t.svix.eventType.upsert(name, { description: "orders v2", schemas: { 1: ORDER_SCHEMA, 2: stricter } });
  assert.equal((await t.raw("GET", `/api/v1/event-type/${name}`)).body.enforceSchema, true);
  const v2 = await rejectsWith(422, t.svix.message.create(app.id, { eventType: name, payload: { id: "o2", items: [] } }), "v2 wants a currency");
  assert.deepEqual([v2.body.detail[0].rule, v2.body.detail[0].schemaVersion], ["required", "2"], JSON.stringify(v2.body));
  await t.svix.message.create(app.id, { eventType: name, payload: { id: "o2", items: [], currency: "eur" } });

  // Turned off (with t.raw again), the same payload is accepted.
  const off = await t.raw("PATCH", `/api/v1/event-type/${name}`, { body: { enforceSchema: false } });
  assert.equal(off.status, 200, JSON.stringify(off.body));
  await t.svix.message.create(app.id, { eventType: name, payload: { id: "o3", items: [] } });
  // Enforcement without a schema to enforce is refused where it is set.
  const bare = await t.raw("POST", "/api/v1/event-type", { body: { name: unique("bare"), description: "x", enforceSchema: true } });
  assert.equal(bare.status, 422, JSON.stringify(bare.body));
  assert.deepEqual(bare.body.detail[0].loc, ["body", "enforceSchema"]);
}

export async function endpoint_content_filter(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  await t.endpoint(app.id, receiver.endpointUrl("/everything"));
  const filter = { data: { amount: { $gt: 100 }, currency: { $in: ["eur", "chf"] } } };
  const created = await t.raw("POST", `/api/v1/app/${app.id}/endpoint`, {
    body: { url: receiver.endpointUrl("/big"), uid: unique("big"), filter },
  });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  assert.deepEqual(created.body.filter, filter);
  const endpointId = created.body.id;
  const { key: secret } = await t.svix.endpoint.getSecret(app.id, endpointId);
  // The SDK reads the endpoint but keeps nothing of `filter`.
  assert.equal("filter" in (await t.svix.endpoint.get(app.id, endpointId)), false);

  const send = (data) => t.svix.message.create(app.id, { eventType: "invoice.paid", payload: { data } });
  const small = await send({ amount: 7, currency: "eur" });
  const big = await send({ amount: 500, currency: "eur" });
  const usd = await send({ amount: 500, currency: "usd" });
  const text = await send({ amount: "500", currency: "chf" });
  // The unfiltered endpoint got all four, so fan-out is over; the filtered one only the match.
  await receiver.waitFor(4, { path: "/everything" });
  const [delivered] = await receiver.waitFor(1, { path: "/big" });
  verifyDelivery(delivered, secret, big.id, { data: { amount: 500, currency: "eur" } });
  for (const turnedAway of [small, usd, text]) {
    const attempts = await t.svix.messageAttempt.listByMsg(app.id, turnedAway.id, { endpointId });
    assert.deepEqual(attempts.data, [], `${turnedAway.id} was queued for the filtered endpoint`);
  }
  await sleep(300);
  assert.equal(receiver.requests("/big").length, 1);

  // The SDK's upsert (PUT) and patch know nothing of `filter`, and keep it.
  await t.svix.endpoint.upsert(app.id, endpointId, { url: receiver.endpointUrl("/big"), description: "renamed" });
  await t.svix.endpoint.patch(app.id, endpointId, { description: "patched" });
  const kept = await t.raw("GET", `/api/v1/app/${app.id}/endpoint/${endpointId}`);
  assert.deepEqual([kept.body.description, kept.body.filter], ["patched", filter], JSON.stringify(kept.body));

  // A bad filter is refused when it is set, naming its place, and nothing changes.
  const refused = await t.raw("PATCH", `/api/v1/app/${app.id}/endpoint/${endpointId}`, {
    body: { filter: { data: { amount: { $gt: "100" } } } },
  });
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.deepEqual(refused.body.detail[0].loc, ["body", "filter", "data", "amount", "$gt"]);
  assert.deepEqual((await t.raw("GET", `/api/v1/app/${app.id}/endpoint/${endpointId}`)).body.filter, filter);

  // A polling endpoint's filter narrows what it serves, as fan-out's does for a push endpoint.
  const sink = await t.raw("POST", `/api/v1/app/${app.id}/endpoint`, { body: { url: "polling:", filter } });
  assert.equal(sink.status, 201, JSON.stringify(sink.body));
  const polled = await t.svix.message.poller.poll(app.id, sink.body.id, { limit: 250 });
  assert.deepEqual(polled.data, [], "the sink serves messages from its creation on");
  const match = await send({ amount: 101, currency: "chf" });
  await send({ amount: 101, currency: "usd" });
  const next = await t.svix.message.poller.poll(app.id, sink.body.id, { iterator: polled.iterator });
  assert.deepEqual(next.data.map((m) => [m.id, m.payload]), [[match.id, { data: { amount: 101, currency: "chf" } }]]);
  await receiver.waitFor(2, { path: "/big" });

  // `null` removes it: every message reaches the endpoint again.
  const cleared = await t.raw("PATCH", `/api/v1/app/${app.id}/endpoint/${endpointId}`, { body: { filter: null } });
  assert.equal(cleared.status, 200, JSON.stringify(cleared.body));
  assert.equal(cleared.body.filter ?? null, null);
  const after = await send({ amount: 1, currency: "usd" });
  const [third] = (await receiver.waitFor(3, { path: "/big" })).slice(2);
  verifyDelivery(third, secret, after.id, { data: { amount: 1, currency: "usd" } });
}

/** A fresh ed25519 pair: the `whsk_` secret hookd takes and the `whpk_` key it shows. */
function ed25519Pair() {
  const { privateKey } = generateKeyPairSync("ed25519");
  const jwk = privateKey.export({ format: "jwk" });
  const seed = Buffer.from(jwk.d, "base64url");
  const publicKey = Buffer.from(jwk.x, "base64url");
  return {
    privateKey,
    secret: "whsk_" + Buffer.concat([seed, publicKey]).toString("base64"),
    publicKey: "whpk_" + publicKey.toString("base64"),
  };
}

/**
 * Whether one `v1a` entry of the request's signature header verifies with `whpk` alone, by
 * node's crypto (not hookd's code): `{id}.{timestamp}.{body}`, a recent timestamp.
 */
function verifiesWithPublicKey(whpk, request, body = request.body) {
  const h = request.headers;
  if (Math.abs(Number(h["webhook-timestamp"]) - Date.now() / 1000) > 300) {
    return false;
  }
  const raw = Buffer.from(whpk.slice("whpk_".length), "base64");
  assert.equal(raw.length, 32, `a public key of ${raw.length} bytes`);
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") }, format: "jwk" });
  const signed = Buffer.concat([Buffer.from(`${h["webhook-id"]}.${h["webhook-timestamp"]}.`), body]);
  return signatures(h["webhook-signature"])
    .filter((entry) => entry.startsWith("v1a,"))
    .some((entry) => cryptoVerify(null, signed, key, Buffer.from(entry.slice(4), "base64")));
}

export async function endpoint_ed25519_secret(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  // A pair made here, given as the endpoint's secret through the SDK: hookd shows only the
  // public half back.
  const mine = ed25519Pair();
  const { endpoint, secret: shown } = await t.endpoint(app.id, receiver.endpointUrl("/ed"), { secret: mine.secret });
  assert.equal(shown, mine.publicKey);

  const first = await t.svix.message.create(app.id, { eventType: "signed.ed25519", payload: { amount: 42 } });
  const [one] = await receiver.waitFor(1, { path: "/ed" });
  assert.equal(one.headers["webhook-id"], first.id);
  assert.deepEqual(signatures(one.headers["webhook-signature"]).map((s) => s.split(",")[0]), ["v1a"]);
  assert.equal(one.headers["svix-signature"], one.headers["webhook-signature"]);
  assert.ok(verifiesWithPublicKey(mine.publicKey, one));
  assert.ok(!verifiesWithPublicKey(mine.publicKey, one, Buffer.from(one.body.toString("utf8").replace("42", "43"))), "a forged body verified");
  assert.ok(!verifiesWithPublicKey(ed25519Pair().publicKey, one), "another key verified");

  // hookd generates a pair on `keyType` (a hookd extension, so with t.raw); without a grace
  // period only the new key signs.
  const rotated = await t.raw("POST", `/api/v1/app/${app.id}/endpoint/${endpoint.id}/secret/rotate`, {
    body: { keyType: "ed25519", gracePeriodSeconds: 0 },
  });
  assert.ok(rotated.status === 200 || rotated.status === 204, JSON.stringify(rotated));
  const generated = (await t.svix.endpoint.getSecret(app.id, endpoint.id)).key;
  assert.ok(generated.startsWith("whpk_") && generated !== mine.publicKey, generated);
  await t.svix.message.create(app.id, { eventType: "signed.ed25519", payload: { amount: 43 } });
  const [, two] = await receiver.waitFor(2, { path: "/ed" });
  assert.equal(signatures(two.headers["webhook-signature"]).length, 1, two.headers["webhook-signature"]);
  assert.ok(verifiesWithPublicKey(generated, two));
  assert.ok(!verifiesWithPublicKey(mine.publicKey, two), "the retired key still verified");

  // A whsk_ key through the SDK's rotateSecret, with the default grace period: both pairs
  // sign, each entry verifies with its own public key.
  const next = ed25519Pair();
  assert.equal(await t.svix.endpoint.rotateSecret(app.id, endpoint.id, { key: next.secret }), undefined);
  assert.equal((await t.svix.endpoint.getSecret(app.id, endpoint.id)).key, next.publicKey);
  await t.svix.message.create(app.id, { eventType: "signed.ed25519", payload: { amount: 44 } });
  const three = (await receiver.waitFor(3, { path: "/ed" }))[2];
  assert.deepEqual(signatures(three.headers["webhook-signature"]).map((s) => s.split(",")[0]), ["v1a", "v1a"]);
  assert.ok(verifiesWithPublicKey(next.publicKey, three));
  assert.ok(verifiesWithPublicKey(generated, three));

  // Back to HMAC (keyType "hmac"): during the grace periods `v1` and `v1a` side by side (both
  // earlier pairs are still in theirs), and the SDK's Webhook verifies the `v1` entry with the
  // new whsec_ secret.
  const back = await t.raw("POST", `/api/v1/app/${app.id}/endpoint/${endpoint.id}/secret/rotate`, { body: { keyType: "hmac" } });
  assert.ok(back.status === 200 || back.status === 204, JSON.stringify(back));
  const hmac = (await t.svix.endpoint.getSecret(app.id, endpoint.id)).key;
  assert.ok(hmac.startsWith("whsec_"), hmac);
  const fourth = await t.svix.message.create(app.id, { eventType: "signed.ed25519", payload: { amount: 45 } });
  const four = (await receiver.waitFor(4, { path: "/ed" }))[3];
  assert.deepEqual(signatures(four.headers["webhook-signature"]).map((s) => s.split(",")[0]).sort(), ["v1", "v1a", "v1a"]);
  assert.ok(verifiesWithPublicKey(next.publicKey, four));
  assert.ok(verifiesWithPublicKey(generated, four));
  new Webhook(hmac).verify(four.body.toString("utf8"), four.headers);
  assert.equal(four.headers["webhook-id"], fourth.id);

  // A key that is not a whsk_ pair is refused through the SDK, and the endpoint keeps its key.
  await rejectsWithValidation(t.svix.endpoint.rotateSecret(app.id, endpoint.id, { key: "whsk_bm90LWEta2V5" }), ["body", "key"]);
  const badKind = await t.raw("POST", `/api/v1/app/${app.id}/endpoint/${endpoint.id}/secret/rotate`, { body: { keyType: "rsa" } });
  assert.equal(badKind.status, 422, JSON.stringify(badKind.body));
  assert.equal((await t.svix.endpoint.getSecret(app.id, endpoint.id)).key, hmac);
  // And as a new endpoint's secret.
  await rejectsWithValidation(t.svix.endpoint.create(app.id, { url: receiver.endpointUrl("/bad"), secret: "whsk_bm90LWEta2V5" }), ["body", "secret"]);
}

export async function ed25519_with_transformations_operational_webhooks_and_inbound(t) {
  const receiver = await t.receiver();
  const app = await t.app();

  // A transformed delivery: the v1a signature covers the body the function returned.
  const signing = ed25519Pair();
  const { endpoint } = await t.endpoint(app.id, receiver.endpointUrl("/ed-transformed"), { secret: signing.secret });
  const code = "function handler(w) { w.payload = { total: w.payload.amount * 2 }; return w; }";
  await t.svix.endpoint.transformation.patch(app.id, endpoint.id, { code, enabled: true });
  await t.svix.message.create(app.id, { eventType: "signed.transformed", payload: { amount: 21 } });
  const [transformed] = await receiver.waitFor(1, { path: "/ed-transformed" });
  assert.deepEqual(JSON.parse(transformed.body.toString("utf8")), { total: 42 });
  assert.ok(verifiesWithPublicKey(signing.publicKey, transformed));
  assert.ok(!verifiesWithPublicKey(signing.publicKey, transformed, Buffer.from('{"amount":21}')), "the stored payload verified");

  // An operational webhook endpoint takes a whsk_ pair through the SDK too, and signs its
  // events with it.
  const operational = ed25519Pair();
  const ops = t.svix.operationalWebhook.endpoint;
  const opEndpoint = await ops.create({ url: receiver.endpointUrl("/ed-operational"), secret: operational.secret, filterTypes: ["endpoint.created"] });
  try {
    assert.equal((await ops.getSecret(opEndpoint.id)).key, operational.publicKey);
    const created = await t.svix.endpoint.create(app.id, { url: receiver.endpointUrl("/unused") });
    await poll(() => receiver.requests("/ed-operational").find((r) => JSON.parse(r.body.toString("utf8")).data?.endpointId === created.id), "the endpoint.created event");
    const event = receiver.requests("/ed-operational").find((r) => JSON.parse(r.body.toString("utf8")).data?.endpointId === created.id);
    assert.equal(JSON.parse(event.body.toString("utf8")).type, "endpoint.created");
    assert.ok(verifiesWithPublicKey(operational.publicKey, event));
  } finally {
    await ops.delete(opEndpoint.id);
  }

  // An inbound source of a Standard Webhooks type takes a whpk_ key as its secret (through
  // the SDK) and verifies a sender's v1a signature, made here by node's crypto.
  const sender = ed25519Pair();
  const source = await t.svix.ingest.source.create({ name: "ed25519 sender", uid: unique("src"), type: "svix", config: { secret: sender.publicKey } });
  await t.svix.ingest.endpoint.create(source.id, { url: receiver.endpointUrl("/ed-inbound") });
  const body = '{"type":"user.created","n":1}';
  const post = async (id, text, signedText = text) => {
    const timestamp = String(Math.floor(Date.now() / 1000));
    const signature = cryptoSign(null, Buffer.from(`${id}.${timestamp}.${signedText}`), sender.privateKey).toString("base64");
    const headers = { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": timestamp, "webhook-signature": `v1a,${signature}` };
    const response = await fetch(source.ingestUrl, { method: "POST", headers, body: text });
    return { status: response.status, body: await response.json() };
  };
  const accepted = await post(unique("msg"), body);
  assert.deepEqual([accepted.status, accepted.body.status], [200, "accepted"], JSON.stringify(accepted.body));
  const forged = await post(unique("msg"), body.replace("1", "2"), body);
  assert.deepEqual([forged.status, forged.body.code], [401, "no_matching_signature"], JSON.stringify(forged.body));
  const [forwarded] = await receiver.waitFor(1, { path: "/ed-inbound" });
  assert.equal(forwarded.body.toString("utf8"), body);
  await sleep(300);
  assert.equal(receiver.requests("/ed-inbound").length, 1, "the forged request was forwarded");
  await t.svix.ingest.source.delete(source.id);
}

runIfMain(import.meta);
