// Moving an installation through the JS SDK: environment.export / environment.import and
// eventType.importOpenapi (dryRun, replaceAll, refusals).
//
// The SDK's EnvironmentIn knows only eventTypes, settings and connectors (its serializer drops
// everything else), so hookd's `applications` part of the document is exported and imported
// with `t.raw`, as `hookd export`/`hookd import` do.
import assert from "node:assert/strict";
import { rejectsWith, rejectsWithValidation, runIfMain, unique } from "./lib.mjs";

function validDate(value, what) {
  assert.ok(value instanceof Date && !Number.isNaN(value.getTime()), `${what}: ${String(value)}`);
}

/** Every event type, archived ones too, through the SDK's paging. */
async function allEventTypes(t) {
  const all = [];
  let iterator;
  for (;;) {
    const page = await t.svix.eventType.list({ limit: 250, iterator, includeArchived: true, withContent: true });
    all.push(...page.data);
    if (page.done || !page.iterator) {
      return all;
    }
    iterator = page.iterator;
  }
}

async function eventTypeGone(t, name) {
  await rejectsWith(404, t.svix.eventType.get(name), `event type ${name} (it must not have been written)`);
}

export async function environment_export_import_round_trip(t) {
  const name = unique("env") + ".exported";
  const schemas = { 1: { type: "object", properties: { id: { type: "string" } } } };
  await t.svix.eventType.create({ name, description: "exported", schemas, groupName: "env" });

  const exported = await t.svix.environment.export();
  validDate(exported.createdAt, "createdAt");
  assert.equal(typeof exported.version, "number");
  assert.deepEqual(exported.connectors, []);
  assert.deepEqual(exported.settings, {});
  const mine = exported.eventTypes.find((et) => et.name === name);
  assert.ok(mine, `the export lists ${name}`);
  assert.equal(mine.description, "exported");
  assert.deepEqual(mine.schemas, { 1: schemas[1] });
  assert.equal(mine.groupName, "env");
  validDate(mine.createdAt, "eventTypes[].createdAt");
  validDate(mine.updatedAt, "eventTypes[].updatedAt");

  // Changed after the export: importing the exported entry (the SDK keeps EventTypeIn's
  // fields of the EventTypeOut) puts it back; a renamed copy is created.
  await t.svix.eventType.patch(name, { description: "changed", schemas: null });
  const copy = unique("env") + ".copy";
  assert.equal(await t.svix.environment.import({ eventTypes: [mine, { ...mine, name: copy, description: "copy" }] }), undefined);
  const restored = await t.svix.eventType.get(name);
  assert.equal(restored.description, "exported");
  assert.deepEqual(restored.schemas, { 1: schemas[1] });
  assert.equal(restored.groupName, "env");
  assert.equal((await t.svix.eventType.get(copy)).description, "copy");

  // Importing again does not duplicate.
  await t.svix.environment.import({ eventTypes: [{ name, description: "again" }], settings: {}, connectors: [] });
  const named = (await allEventTypes(t)).filter((et) => et.name === name);
  assert.equal(named.length, 1);
  assert.equal(named[0].description, "again");
  // An empty document (the SDK's default) writes nothing and is fine.
  assert.equal(await t.svix.environment.import(), undefined);

  // The flags travel too: an archived, deprecated type with its feature flag and group.
  const flagged = unique("env") + ".flagged";
  await t.svix.eventType.create({ name: flagged, description: "flagged", featureFlags: ["beta"], deprecated: true, groupName: "g" });
  await t.svix.eventType.patch(flagged, { archived: true });
  const exportedFlags = (await t.svix.environment.export()).eventTypes.find((et) => et.name === flagged);
  assert.deepEqual(
    [exportedFlags.archived, exportedFlags.deprecated, exportedFlags.featureFlags, exportedFlags.groupName],
    [true, true, ["beta"], "g"],
  );
  await t.svix.eventType.patch(flagged, { archived: false, deprecated: false, featureFlags: null, groupName: null });
  await t.svix.environment.import({ eventTypes: [exportedFlags] });
  const back = await t.svix.eventType.get(flagged);
  assert.deepEqual([back.archived, back.deprecated, back.featureFlags, back.groupName], [true, true, ["beta"], "g"]);
}

export async function environment_applications_round_trip(t) {
  // hookd's `applications` part, with `t.raw`: a changed application and endpoint are put
  // back as exported, with the exported signing secret current again.
  const receiver = await t.receiver();
  const app = await t.app({ metadata: { plan: "pro" } });
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/moved"), { uid: "main", channels: ["eu"] });
  const exported = await t.raw("POST", "/api/v1/environment/export");
  assert.equal(exported.status, 200, JSON.stringify(exported.body));
  const document = exported.body;
  document.applications = document.applications.filter((a) => a.id === app.id);
  assert.equal(document.applications.length, 1);
  assert.equal(document.applications[0].endpoints[0].secret, secret);

  await t.svix.application.patch(app.id, { name: "renamed", metadata: {} });
  await t.svix.endpoint.rotateSecret(app.id, endpoint.id, {});
  assert.notEqual((await t.svix.endpoint.getSecret(app.id, endpoint.id)).key, secret);
  const imported = await t.raw("POST", "/api/v1/environment/import", { body: document });
  assert.equal(imported.status, 204, JSON.stringify(imported.body));

  const back = await t.svix.application.get(app.uid);
  assert.equal(back.id, app.id);
  assert.equal(back.name, app.name);
  assert.deepEqual(back.metadata, { plan: "pro" });
  assert.equal((await t.svix.endpoint.get(app.id, "main")).id, endpoint.id);
  assert.equal((await t.svix.endpoint.getSecret(app.id, "main")).key, secret);
}

export async function environment_import_refuses_a_bad_document(t) {
  const name = unique("env") + ".refused";
  await rejectsWithValidation(
    t.svix.environment.import({ eventTypes: [{ name, description: "x" }], settings: { colorPaletteLight: {} } }),
    ["body", "settings", "colorPaletteLight"],
  );
  await rejectsWithValidation(
    t.svix.environment.import({ eventTypes: [{ name, description: "x" }, { name: "bad name!", description: "" }] }),
    ["body", "eventTypes", "1", "name"],
  );
  await rejectsWithValidation(
    t.svix.environment.import({
      eventTypes: [{ name, description: "x" }],
      connectors: [{ name: "c", code: "function handler(w) { return w; }", kind: "Custom" }],
    }),
    ["body", "connectors", "0"],
  );
  // The same name twice is refused too.
  await rejectsWith(422, t.svix.environment.import({ eventTypes: [{ name, description: "x" }, { name, description: "y" }] }), "a name twice");
  // Nothing of the refused documents was written.
  await eventTypeGone(t, name);

  // A bad endpoint deep in hookd's applications part: refused whole, naming its place.
  const app = unique("app");
  const refused = await t.raw("POST", "/api/v1/environment/import", {
    body: {
      eventTypes: [{ name, description: "x" }],
      applications: [{ name: "env", uid: app, endpoints: [{ url: "not a url" }] }],
    },
  });
  assert.equal(refused.status, 422, JSON.stringify(refused.body));
  assert.deepEqual(refused.body.detail[0].loc, ["body", "applications", "0", "endpoints", "0", "url"], JSON.stringify(refused.body));
  await eventTypeGone(t, name);
  await rejectsWith(404, t.svix.application.get(app), "the refused application");

  // Admin only: the document holds every endpoint's secret.
  const own = await t.app();
  const portal = await t.svix.authentication.appPortalAccess(own.id, {});
  await rejectsWith(403, t.client(portal.token).environment.export(), "export with a portal token");
  await rejectsWith(403, t.client(portal.token).environment.import({ eventTypes: [{ name, description: "x" }] }), "import with a portal token");
  await eventTypeGone(t, name);
}

function openapi(webhooks) {
  return {
    openapi: "3.1.0",
    info: { title: "t", version: "1" },
    webhooks,
    components: { schemas: { Thing: { type: "object", properties: { id: { type: "string" } } } } },
  };
}

function webhook(description, example) {
  return {
    post: {
      description,
      requestBody: { content: { "application/json": { schema: { $ref: "#/components/schemas/Thing" }, example } } },
    },
  };
}

export async function event_type_import_openapi(t) {
  const name = unique("openapi") + ".created";
  const spec = openapi({ [name]: webhook("From OpenAPI", { id: "t1" }) });

  const dry = await t.svix.eventType.importOpenapi({ spec, dryRun: true });
  assert.deepEqual(dry.data.modified, []);
  assert.deepEqual(dry.data.toModify.map((et) => et.name), [name]);
  assert.equal(dry.data.toModify[0].description, "From OpenAPI");
  assert.equal(dry.data.toModify[0].deprecated, false);
  await eventTypeGone(t, name);

  const done = await t.svix.eventType.importOpenapi({ spec });
  assert.deepEqual(done.data.modified, [name]);
  const created = await t.svix.eventType.get(name);
  assert.equal(created.description, "From OpenAPI");
  assert.deepEqual(created.schemas["1"].properties, { id: { type: "string" } });
  assert.deepEqual(created.schemas["1"].examples, [{ id: "t1" }]);

  // A deprecated operation makes a deprecated type; `x-webhooks` is read like `webhooks`.
  const old = unique("openapi") + ".old";
  const deprecated = webhook("Old", { id: "o" });
  deprecated.post.deprecated = true;
  const xWebhooks = openapi(undefined);
  xWebhooks["x-webhooks"] = { [old]: deprecated };
  const dryOld = await t.svix.eventType.importOpenapi({ spec: xWebhooks, dryRun: true });
  assert.deepEqual(dryOld.data.toModify.map((et) => [et.name, et.deprecated]), [[old, true]]);
  assert.deepEqual((await t.svix.eventType.importOpenapi({ spec: xWebhooks })).data.modified, [old]);
  assert.equal((await t.svix.eventType.get(old)).deprecated, true);

  // Unchanged: nothing to modify. The same document as text (specRaw) is read alike.
  assert.deepEqual((await t.svix.eventType.importOpenapi({ specRaw: JSON.stringify(spec) })).data.modified, []);
  assert.deepEqual((await t.svix.eventType.importOpenapi({ spec, dryRun: true })).data.toModify, []);

  // Bad documents: 422 naming the place, nothing written.
  const other = unique("openapi") + ".refused";
  await rejectsWithValidation(t.svix.eventType.importOpenapi({ spec: { openapi: "3.1.0", paths: {} } }), ["body", "spec"]);
  await rejectsWithValidation(t.svix.eventType.importOpenapi({ specRaw: "openapi: 3.1.0" }), ["body", "specRaw"]);
  await rejectsWithValidation(t.svix.eventType.importOpenapi({ spec, specRaw: JSON.stringify(spec) }), ["body", "specRaw"]);
  await rejectsWithValidation(t.svix.eventType.importOpenapi(), ["body", "spec"]);
  const badName = await rejectsWith(422, t.svix.eventType.importOpenapi({ spec: openapi({ [other]: webhook("ok", {}), "bad name!": webhook("x", {}) }) }));
  assert.deepEqual(badName.body.detail[0].loc.slice(0, 3), ["body", "spec", "webhooks"], JSON.stringify(badName.body));
  await eventTypeGone(t, other);
  await rejectsWith(403, t.client((await t.svix.authentication.appPortalAccess((await t.app()).id, {})).token).eventType.importOpenapi({ spec }), "a portal token");
}

export async function event_type_import_openapi_replace_all(t) {
  // replaceAll archives every live type the document does not name. The session's other
  // scenarios use their types again, so those archived here are revived at the end.
  const kept = unique("openapi") + ".kept";
  const dropped = unique("openapi") + ".dropped";
  await t.svix.eventType.create({ name: dropped, description: "not in the document" });
  const spec = openapi({ [kept]: webhook("Kept", { id: "k" }) });

  const dry = await t.svix.eventType.importOpenapi({ spec, replaceAll: true, dryRun: true });
  assert.deepEqual(dry.data.modified, []);
  assert.deepEqual(dry.data.toModify.map((et) => et.name), [kept]);
  assert.equal((await t.svix.eventType.get(dropped)).archived, false);
  await eventTypeGone(t, kept);

  const live = (await allEventTypes(t)).filter((et) => !et.archived).map((et) => et.name);
  const done = await t.svix.eventType.importOpenapi({ spec, replaceAll: true });
  try {
    assert.deepEqual([...done.data.modified].sort(), [kept, ...live].sort());
    assert.equal((await t.svix.eventType.get(kept)).archived, false);
    assert.equal((await t.svix.eventType.get(dropped)).archived, true);
    const after = await allEventTypes(t);
    assert.deepEqual(after.filter((et) => !et.archived).map((et) => et.name), [kept]);
  } finally {
    for (const name of live) {
      await t.svix.eventType.patch(name, { archived: false });
    }
  }
  // An archived type the document names is revived by the import.
  await t.svix.eventType.patch(kept, { archived: true });
  assert.deepEqual((await t.svix.eventType.importOpenapi({ spec })).data.modified, [kept]);
  assert.equal((await t.svix.eventType.get(kept)).archived, false);
}

runIfMain(import.meta);
