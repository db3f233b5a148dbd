// Event types through the JS SDK: create, get, list with paging and archived ones, upsert,
// patch, delete (archive) and the refusals.
import assert from "node:assert/strict";
import { rejectsWith, rejectsWithValidation, runIfMain, unique } from "./lib.mjs";

async function listAll(t, options = {}) {
  const names = [];
  let iterator = null;
  for (let round = 0; round < 1000; round++) {
    const page = await t.svix.eventType.list({ limit: 50, iterator, ...options });
    names.push(...page.data.map((e) => e.name));
    if (page.done) {
      return names;
    }
    assert.ok(page.iterator, "a page that is not done must carry an iterator");
    iterator = page.iterator;
  }
  assert.fail("event type list never reported done");
}

export async function event_type_crud(t) {
  const name = unique("jscompat") + ".user.created";
  const created = await t.svix.eventType.create({
    name,
    description: "A user was created",
    featureFlags: undefined,
    schemas: { 1: { type: "object", examples: [{ id: 1 }] } },
  });
  assert.equal(created.name, name);
  assert.equal(created.description, "A user was created");
  assert.equal(created.deprecated, false);
  assert.ok(!Number.isNaN(created.createdAt.getTime()));

  const got = await t.svix.eventType.get(name);
  assert.equal(got.description, "A user was created");
  assert.deepEqual(got.schemas, { 1: { type: "object", examples: [{ id: 1 }] } });
  assert.ok((await listAll(t)).includes(name));
  assert.ok((await listAll(t, { withContent: true, order: "ascending" })).includes(name));

  const updated = await t.svix.eventType.upsert(name, { description: "updated", deprecated: true });
  assert.equal(updated.description, "updated");
  assert.equal(updated.deprecated, true);
  const patched = await t.svix.eventType.patch(name, { deprecated: false });
  assert.equal(patched.deprecated, false);
  assert.equal(patched.description, "updated");

  await rejectsWith(409, t.svix.eventType.create({ name, description: "dup" }), "a repeated name");

  assert.equal(await t.svix.eventType.delete(name), undefined);
  const archived = await t.svix.eventType.get(name);
  assert.equal(archived.archived, true);
  assert.ok(!(await listAll(t)).includes(name), "an archived event type is listed by default");
  assert.ok((await listAll(t, { includeArchived: true })).includes(name), "includeArchived leaves it out");

  const viaPut = unique("jscompat") + ".via.put";
  const putCreated = await t.svix.eventType.upsert(viaPut, { description: "made by PUT" });
  assert.equal(putCreated.name, viaPut);
  await t.svix.eventType.delete(viaPut, { expunge: true });
  await rejectsWith(404, t.svix.eventType.get(viaPut), "an expunged event type");
}

export async function event_type_refusals(t) {
  await rejectsWith(404, t.svix.eventType.get(unique("jscompat") + ".missing"), "an unknown event type");
  await rejectsWithValidation(
    t.svix.eventType.create({ name: "not a name!", description: "bad" }),
    ["body", "name"],
    "an invalid name",
  );
}

runIfMain(import.meta);
