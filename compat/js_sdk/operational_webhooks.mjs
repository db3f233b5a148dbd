// Operational webhook endpoints through the JS SDK: create, get, list, upsert, secret get and
// rotate, headers, delete; hookd's own `endpoint.created` event verified with `Webhook`.
import assert from "node:assert/strict";
import { Webhook } from "svix";
import { poll, rejectsWith, rejectsWithValidation, runIfMain, unique } from "./lib.mjs";

export async function operational_endpoint_crud_and_delivery(t) {
  const receiver = await t.receiver();
  const ops = t.svix.operationalWebhook.endpoint;
  const uid = unique("opsep");
  const created = await ops.create({
    url: receiver.endpointUrl("/operational"),
    uid,
    description: "ops",
    eventTypes: ["endpoint.created"],
    metadata: { team: "ops" },
  });
  assert.ok(created.id.startsWith("ep_"), created.id);
  assert.equal(created.uid, uid);
  assert.deepEqual(created.eventTypes, ["endpoint.created"]);
  assert.deepEqual(created.metadata, { team: "ops" });
  assert.equal((await ops.get(created.id)).url, receiver.endpointUrl("/operational"));

  const listed = [];
  let iterator = null;
  for (let round = 0; round < 100; round++) {
    const page = await ops.list({ limit: 50, iterator });
    listed.push(...page.data.map((e) => e.id));
    if (page.done) {
      break;
    }
    iterator = page.iterator;
  }
  assert.ok(listed.includes(created.id));

  const updated = await ops.upsert(created.id, {
    url: receiver.endpointUrl("/operational"),
    description: "updated",
    eventTypes: ["endpoint.created"],
  });
  assert.equal(updated.description, "updated");

  const oldSecret = (await ops.getSecret(created.id)).key;
  assert.ok(oldSecret.startsWith("whsec_"));
  assert.equal(await ops.rotateSecret(created.id, {}), undefined);
  const secret = (await ops.getSecret(created.id)).key;
  assert.notEqual(secret, oldSecret);

  const empty = await ops.getHeaders(created.id);
  assert.deepEqual([empty.headers, empty.sensitive], [{}, []]);
  assert.equal(await ops.setHeaders(created.id, { headers: { "X-Operator": "ops", Authorization: "Bearer op" } }), undefined);
  const shown = await ops.getHeaders(created.id);
  assert.deepEqual(shown.headers, { "X-Operator": "ops" });
  assert.deepEqual(shown.sensitive, ["Authorization"]);
  await rejectsWithValidation(ops.setHeaders(created.id, { headers: { "webhook-id": "x" } }), ["body", "headers", "webhook-id"]);

  const app = await t.app();
  const { endpoint } = await t.endpoint(app.id, "http://127.0.0.1:9/never");
  const request = await poll(
    () => receiver.requests("/operational").find((r) => JSON.parse(r.body.toString("utf8")).data?.endpointId === endpoint.id),
    "the endpoint.created operational webhook",
  );
  const event = JSON.parse(request.body.toString("utf8"));
  assert.equal(event.type, "endpoint.created");
  assert.equal(event.data.appId, app.id);
  assert.equal(request.headers["x-operator"], "ops");
  assert.equal(request.headers.authorization, "Bearer op");
  new Webhook(secret).verify(request.body.toString("utf8"), request.headers);

  assert.equal(await ops.delete(created.id), undefined);
  await rejectsWith(404, ops.get(created.id), "a deleted operational endpoint");
  await rejectsWith(404, ops.getHeaders("ep_missing"), "headers of an unknown operational endpoint");
  await rejectsWithValidation(ops.create({ url: "not a url" }), ["body", "url"], "an invalid url");
}

runIfMain(import.meta);
