// Applications through the JS SDK: create, get by id and uid, list with paging, upsert,
// patch, delete, getOrCreate, and the refusals (409, 404, 401).
import assert from "node:assert/strict";
import { Svix } from "svix";
import { rejectsWith, runIfMain, unique } from "./lib.mjs";

export async function application_create_and_get(t) {
  const uid = unique("app");
  const created = await t.svix.application.create({
    name: "JS App",
    uid,
    metadata: { team: "compat" },
    throttleRate: 100,
  });
  assert.ok(created.id && created.id !== uid);
  assert.equal(created.name, "JS App");
  assert.equal(created.uid, uid);
  assert.deepEqual(created.metadata, { team: "compat" });
  assert.equal(created.throttleRate, 100);
  assert.ok(created.createdAt instanceof Date && !Number.isNaN(created.createdAt.getTime()));
  assert.ok(!Number.isNaN(created.updatedAt.getTime()));

  for (const ref of [created.id, uid]) {
    const got = await t.svix.application.get(ref);
    assert.equal(got.id, created.id);
    assert.deepEqual(got.metadata, { team: "compat" });
  }

  const minimal = await t.svix.application.create({ name: "no uid" });
  assert.equal(minimal.uid ?? null, null);
  assert.deepEqual(minimal.metadata, {});

  await rejectsWith(409, t.svix.application.create({ name: "second", uid }), "a repeated uid");
  assert.equal((await t.svix.application.get(uid)).name, "JS App");
}

export async function application_list_paginates(t) {
  const created = new Set();
  for (let i = 0; i < 3; i++) {
    created.add((await t.app()).id);
  }
  const seen = [];
  let iterator = null;
  for (let round = 0; ; round++) {
    assert.ok(round < 1000, "application list never reported done");
    const page = await t.svix.application.list({ limit: 2, iterator, order: "ascending" });
    assert.ok(page.data.length <= 2);
    seen.push(...page.data.map((a) => a.id));
    if (page.done) {
      break;
    }
    assert.ok(page.iterator, "a page that is not done must carry an iterator");
    iterator = page.iterator;
  }
  for (const id of created) {
    assert.ok(seen.includes(id), `${id} was not listed`);
  }
  assert.equal(seen.length, new Set(seen).size, "pagination returned an application twice");

  const descending = await t.svix.application.list({ limit: 1, order: "descending" });
  assert.equal(descending.data.length, 1);
  const withEndpoints = await t.svix.application.list({ limit: 250, excludeAppsWithNoEndpoints: true });
  for (const id of created) {
    assert.ok(!withEndpoints.data.some((a) => a.id === id), "an application without endpoints was listed");
  }
}

export async function application_upsert_patch_delete(t) {
  const app = await t.app({ metadata: { keep: "me" } });
  const updated = await t.svix.application.upsert(app.id, { name: "renamed", uid: app.uid, metadata: { v: "2" } });
  assert.equal(updated.id, app.id);
  assert.equal(updated.name, "renamed");
  assert.deepEqual(updated.metadata, { v: "2" });
  assert.ok(updated.updatedAt >= app.updatedAt);

  const uid = unique("app");
  const viaPut = await t.svix.application.upsert(uid, { name: "via put", uid });
  assert.equal(viaPut.uid, uid);
  assert.equal((await t.svix.application.get(uid)).id, viaPut.id);

  const patched = await t.svix.application.patch(app.id, { name: "patched" });
  assert.equal(patched.name, "patched");
  assert.equal(patched.uid, app.uid);
  assert.deepEqual(patched.metadata, { v: "2" });
  const repatched = await t.svix.application.patch(app.uid, { metadata: { new: "1" } });
  assert.equal(repatched.name, "patched");
  assert.deepEqual(repatched.metadata, { new: "1" });

  assert.equal(await t.svix.application.delete(app.id), undefined);
  const gone = await rejectsWith(404, t.svix.application.get(app.id), "a deleted application");
  assert.equal(gone.body.code, "not_found");
  await rejectsWith(404, t.svix.application.get(app.uid), "a deleted application by uid");
  await t.svix.application.delete(uid);
  await rejectsWith(404, t.svix.application.get(viaPut.id), "an application deleted by uid");
}

export async function application_get_or_create(t) {
  const uid = unique("app");
  const first = await t.svix.application.getOrCreate({ name: "original", uid });
  assert.equal(first.uid, uid);
  assert.equal(first.name, "original");
  const second = await t.svix.application.getOrCreate({ name: "other name", uid });
  assert.equal(second.id, first.id);
  assert.equal(second.name, "original");
}

export async function application_refusals(t) {
  const missing = "app_" + unique("missing").replace("-", "");
  const error = await rejectsWith(404, t.svix.application.get(missing), "an unknown application");
  assert.equal(error.body.code, "not_found");
  assert.ok(error.body.detail);
  await rejectsWith(404, t.svix.application.patch(missing, { name: "x" }), "patching an unknown application");
  await rejectsWith(404, t.svix.application.delete(missing), "deleting an unknown application");
  await rejectsWith(404, t.svix.endpoint.list(missing), "endpoints of an unknown application");
  await rejectsWith(404, t.svix.message.create(missing, { eventType: "x.y", payload: {} }), "a message to an unknown application");

  const bad = new Svix("not-the-token", { serverUrl: t.url, numRetries: 0 });
  const refused = await rejectsWith(401, bad.application.list(), "a wrong token");
  assert.ok(refused.body.code && refused.body.detail);
  await rejectsWith(401, bad.message.create("app_x", { eventType: "x.y", payload: {} }), "a wrong token");
}

runIfMain(import.meta);
