// Integrations through the JS SDK (svix 2.5.0's `integration`): create, get, list (paging,
// order), update, delete, rotateKey; the rotated key as an SDK token of its own application
// only, revoked at once by the next rotation and by delete; 422s and 404s.
import assert from "node:assert/strict";
import { rejectsWith, rejectsWithValidation, runIfMain } from "./lib.mjs";

export async function integration_crud(t) {
  const app = await t.app();
  const created = await t.svix.integration.create(app.id, { name: "Zapier", featureFlags: ["beta", "alpha"] });
  assert.ok(/^integ_[A-Za-z0-9]{27}$/.test(created.id), created.id);
  assert.equal(created.name, "Zapier");
  assert.deepEqual(created.featureFlags, ["alpha", "beta"]);
  assert.ok(created.createdAt instanceof Date, "the SDK parses the dates");
  assert.equal(created.key, undefined);

  assert.deepEqual(await t.svix.integration.get(app.uid, created.id), created);
  const second = await t.svix.integration.create(app.id, { name: "Make" });
  assert.deepEqual(second.featureFlags, []);
  const page = await t.svix.integration.list(app.id, { limit: 1 });
  assert.deepEqual(page.data.map((i) => i.id), [second.id], "newest first");
  assert.equal(page.done, false);
  const rest = await t.svix.integration.list(app.id, { limit: 1, iterator: page.iterator });
  assert.deepEqual(rest.data.map((i) => i.id), [created.id]);
  const ascending = await t.svix.integration.list(app.id, { order: "ascending" });
  assert.deepEqual(ascending.data.map((i) => i.id), [created.id, second.id]);

  const updated = await t.svix.integration.update(app.id, created.id, { name: "Zapier 2", featureFlags: ["gamma"] });
  assert.equal(updated.name, "Zapier 2");
  assert.deepEqual(updated.featureFlags, ["gamma"]);
  assert.equal(updated.createdAt.getTime(), created.createdAt.getTime());

  assert.equal(await t.svix.integration.delete(app.id, created.id), undefined);
  await rejectsWith(404, t.svix.integration.get(app.id, created.id), "a deleted integration");
}

export async function integration_key_scope_and_rotation(t) {
  const app = await t.app();
  const other = await t.app();
  const endpoint = await t.svix.endpoint.create(app.id, { url: "https://example.com/hook" });
  const integration = await t.svix.integration.create(app.id, { name: "reader" });
  const { key } = await t.svix.integration.rotateKey(app.id, integration.id);
  assert.ok(key.startsWith("integsk_"), key);

  const keyed = t.client(key);
  assert.deepEqual((await keyed.endpoint.list(app.id)).data.map((e) => e.id), [endpoint.id]);
  await rejectsWith(403, keyed.endpoint.list(other.id), "another application's endpoints");
  await rejectsWith(403, keyed.application.list(), "an admin route");
  await rejectsWith(403, keyed.integration.rotateKey(app.id, integration.id), "a key minting a key");
  const listed = JSON.stringify(await t.svix.integration.list(app.id));
  assert.ok(!listed.includes(key), "a listing never holds the key");

  const { key: newer } = await t.svix.integration.rotateKey(app.id, integration.id);
  await rejectsWith(401, keyed.endpoint.list(app.id), "the key before the rotation");
  assert.equal((await t.client(newer).endpoint.list(app.id)).data.length, 1);
  await t.svix.integration.delete(app.id, integration.id);
  await rejectsWith(401, t.client(newer).endpoint.list(app.id), "a deleted integration's key");
}

export async function integration_bad_inputs(t) {
  const app = await t.app();
  const kept = await t.svix.integration.create(app.id, { name: "kept" });
  const bad = [
    [{ name: "" }, ["body", "name"]],
    [{ name: "n".repeat(257) }, ["body", "name"]],
    [{ name: "x", featureFlags: ["not ok"] }, ["body", "featureFlags", "0"]],
    [{ name: "x", featureFlags: Array.from({ length: 26 }, (_, n) => `f${n}`) }, ["body", "featureFlags"]],
  ];
  for (const [body, loc] of bad) {
    await rejectsWithValidation(t.svix.integration.create(app.id, body), loc, `create ${JSON.stringify(body)}`);
    await rejectsWithValidation(t.svix.integration.update(app.id, kept.id, body), loc, `update ${JSON.stringify(body)}`);
  }
  const foreign = await t.svix.integration.create((await t.app()).id, { name: "foreign" });
  for (const id of ["integ_2ZZZZZZZZZZZZZZZZZZZZZZZZZZ", foreign.id]) {
    await rejectsWith(404, t.svix.integration.get(app.id, id), `get ${id}`);
    await rejectsWith(404, t.svix.integration.update(app.id, id, { name: "n" }), `update ${id}`);
    await rejectsWith(404, t.svix.integration.delete(app.id, id), `delete ${id}`);
    await rejectsWith(404, t.svix.integration.rotateKey(app.id, id), `rotateKey ${id}`);
  }
  assert.deepEqual((await t.svix.integration.list(app.id)).data, [kept], "nothing changed");
}

runIfMain(import.meta);
