// The inbound gateway through the JS SDK (`svix.ingest`): sources and their ingest endpoints,
// and a request signed with the SDK's own `Webhook.sign` posted to the ingest URL the SDK
// handed back, forwarded to the ingest endpoint and verified there.
import assert from "node:assert/strict";
import { Webhook } from "svix";
import { rejectsWith, runIfMain, unique } from "./lib.mjs";

const PROVIDER_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

export async function ingest_sources_round_trip(t) {
  const sources = t.svix.ingest.source;
  const uid = unique("stripe");
  const created = await sources.create({ name: "Stripe live", uid, type: "stripe", config: { secret: "whsec_x" } });
  assert.ok(created.id.startsWith("src_"), created.id);
  assert.equal(created.type, "stripe");
  assert.ok(created.ingestUrl?.includes("/ingest/in/"), created.ingestUrl);
  assert.equal((await sources.get(uid)).id, created.id);

  const listed = [];
  let iterator = null;
  for (let round = 0; round < 100; round++) {
    const page = await sources.list({ limit: 50, iterator });
    listed.push(...page.data.map((s) => s.id));
    if (page.done) {
      break;
    }
    iterator = page.iterator;
  }
  assert.ok(listed.includes(created.id));

  const renamed = await sources.upsert(created.id, { name: "Renamed", type: "stripe", config: { secret: "whsec_y" } });
  assert.deepEqual([renamed.name, renamed.uid], ["Renamed", uid]);
  // rotateToken is a POST without a body.
  const rotated = await sources.rotateToken(created.id);
  assert.ok(rotated.ingestUrl && rotated.ingestUrl !== created.ingestUrl, JSON.stringify(rotated));

  assert.equal(await sources.delete(created.id), undefined);
  await rejectsWith(404, sources.get(created.id), "a deleted source");
}

export async function ingest_signed_request_is_forwarded(t) {
  const receiver = await t.receiver();
  const source = await t.svix.ingest.source.create({
    name: "Clerk",
    uid: unique("svix"),
    type: "svix",
    config: { secret: PROVIDER_SECRET },
  });
  const endpoints = t.svix.ingest.endpoint;
  const endpoint = await endpoints.create(source.id, { url: receiver.endpointUrl("/ingest"), description: "app" });
  assert.equal((await endpoints.get(source.id, endpoint.id)).url, receiver.endpointUrl("/ingest"));
  assert.deepEqual((await endpoints.list(source.id)).data.map((e) => e.id), [endpoint.id]);
  const updated = await endpoints.upsert(source.id, endpoint.id, { url: receiver.endpointUrl("/ingest"), description: "updated" });
  assert.equal(updated.description, "updated");

  assert.equal(await endpoints.setHeaders(source.id, endpoint.id, { headers: { "x-forwarded-by": "hookd" } }), undefined);
  assert.deepEqual((await endpoints.getHeaders(source.id, endpoint.id)).headers, { "x-forwarded-by": "hookd" });
  const oldSecret = (await endpoints.getSecret(source.id, endpoint.id)).key;
  assert.equal(await endpoints.rotateSecret(source.id, endpoint.id, {}), undefined);
  const secret = (await endpoints.getSecret(source.id, endpoint.id)).key;
  assert.notEqual(secret, oldSecret);

  const body = '{"type":"user.created", "data": {"id": "user_1", "amount": 1.50}}';
  const msgId = unique("msg");
  const now = new Date();
  const headers = {
    "svix-id": msgId,
    "svix-timestamp": String(Math.floor(now.getTime() / 1000)),
    "svix-signature": new Webhook(PROVIDER_SECRET).sign(msgId, now, body),
    "content-type": "application/json",
  };
  const post = async (text) => {
    const response = await fetch(source.ingestUrl, { method: "POST", headers, body: text });
    return { status: response.status, body: await response.json() };
  };
  const answer = await post(body);
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const duplicate = await post(body);
  assert.deepEqual([duplicate.status, duplicate.body.status], [200, "duplicate"]);
  const tampered = await post(body + " ");
  assert.deepEqual([tampered.status, tampered.body.code], [401, "no_matching_signature"]);

  const [forwarded] = await receiver.waitFor(1, { path: "/ingest" });
  assert.equal(forwarded.body.toString("utf8"), body, "the forwarded body is the received bytes");
  assert.equal(forwarded.headers["x-forwarded-by"], "hookd");
  const webhookHeaders = Object.fromEntries(Object.entries(forwarded.headers).filter(([k]) => k.startsWith("webhook-")));
  new Webhook(secret).verify(forwarded.body.toString("utf8"), webhookHeaders);
  assert.equal(webhookHeaders["webhook-id"], answer.body.msgId);

  assert.equal(await endpoints.delete(source.id, endpoint.id), undefined);
  await rejectsWith(404, endpoints.get(source.id, endpoint.id), "a deleted ingest endpoint");
  await t.svix.ingest.source.delete(source.id);
}

export async function ingest_generic_webhook_source(t) {
  // The JS SDK sends a generic-webhook source's config as `{}` whatever it is given: a source
  // that checks nothing, which hookd accepts and which takes an unsigned post.
  const created = await t.svix.ingest.source.create({ name: "Generic", type: "generic-webhook" });
  assert.equal(created.type, "generic-webhook");
  const response = await fetch(created.ingestUrl, { method: "POST", body: '{"event":"done"}' });
  const answer = await response.json();
  assert.equal(response.status, 200, JSON.stringify(answer));
  assert.equal(answer.status, "accepted");
  await t.svix.ingest.source.delete(created.id);
}

runIfMain(import.meta);
