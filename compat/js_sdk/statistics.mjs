// Usage statistics through the JS SDK: statistics.aggregateAppStats (POST /stats/usage/app)
// and statistics.aggregateEventTypes (PUT /stats/usage/event-types), both background tasks
// whose result backgroundTask.get returns in `data`.
import assert from "node:assert/strict";
import { poll, rejectsWith, rejectsWithValidation, runIfMain } from "./lib.mjs";

const MINUTE = 60_000;

async function finishedTask(t, taskId) {
  const task = await poll(async () => {
    const current = await t.svix.backgroundTask.get(taskId);
    return current.status !== "running" ? current : null;
  }, `task ${taskId} to finish`);
  assert.equal(task.status, "finished", JSON.stringify(task));
  return task;
}

function validDate(value, what) {
  assert.ok(value instanceof Date && !Number.isNaN(value.getTime()), `${what}: ${String(value)}`);
}

export async function statistics_aggregate_app_stats(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const quiet = await t.app();
  await t.endpoint(app.id, receiver.endpointUrl("/stats-a"));
  await t.endpoint(app.id, receiver.endpointUrl("/stats-b"));
  await t.svix.message.create(app.id, { eventType: "stats.app", payload: { n: 1 } });
  await t.svix.message.create(app.id, { eventType: "stats.app", payload: { n: 2 } });
  await receiver.waitFor(4);
  const now = Date.now();
  const window = { since: new Date(now - 5 * MINUTE), until: new Date(now + 5 * MINUTE) };

  // Two messages to two endpoints each: four message destinations.
  const started = await t.svix.statistics.aggregateAppStats({ ...window, appIds: [app.uid, quiet.id, "app-that-does-not-exist"] });
  assert.ok(started.id.startsWith("qtask_"), started.id);
  assert.equal(started.task, "application.stats");
  assert.ok(["running", "finished"].includes(started.status), started.status);
  validDate(started.updatedAt, "updatedAt");
  assert.deepEqual(started.unresolvedAppIds, ["app-that-does-not-exist"]);
  const task = await finishedTask(t, started.id);
  assert.equal(task.task, "application.stats");
  const byApp = Object.fromEntries(task.data.appStats.map((row) => [row.appId, row]));
  assert.deepEqual(byApp[app.id], { appId: app.id, appUid: app.uid, messageDestinations: 4 }, JSON.stringify(task.data));
  assert.equal(byApp[quiet.id]?.messageDestinations ?? 0, 0, JSON.stringify(task.data));
  assert.ok(task.data.appStats.every((row) => [app.id, quiet.id].includes(row.appId)), JSON.stringify(task.data));

  // A window that ended before the messages counts none of them.
  const before = await t.svix.statistics.aggregateAppStats({
    since: new Date(now - 10 * MINUTE),
    until: new Date(now - 9 * MINUTE),
    appIds: [app.id],
  });
  assert.deepEqual(before.unresolvedAppIds, []);
  const empty = await finishedTask(t, before.id);
  assert.ok(empty.data.appStats.every((row) => row.messageDestinations === 0), JSON.stringify(empty.data));

  // Without appIds: every application, this one among them.
  const all = await finishedTask(t, (await t.svix.statistics.aggregateAppStats(window)).id);
  assert.equal(all.data.appStats.find((row) => row.appId === app.id)?.messageDestinations, 4, JSON.stringify(all.data.appStats.length));

  await rejectsWithValidation(t.svix.statistics.aggregateAppStats({ since: window.until, until: window.since }), ["body", "until"]);
  await rejectsWithValidation(
    t.svix.statistics.aggregateAppStats({ ...window, appIds: ["app-that-does-not-exist"] }),
    ["body", "appIds"],
  );
  await rejectsWithValidation(t.svix.statistics.aggregateAppStats({ ...window, appIds: [] }), ["body", "appIds"]);
  await rejectsWith(401, t.client("not-a-token").statistics.aggregateAppStats(window), "a bad token");
}

export async function statistics_aggregate_event_types(t) {
  const receiver = await t.receiver();
  const chosen = await t.app();
  const catchAll = await t.app();
  await t.endpoint(chosen.id, receiver.endpointUrl("/chosen"), { eventTypes: ["stats.paid", "stats.created"] });
  await t.endpoint(chosen.id, receiver.endpointUrl("/chosen-2"), { eventTypes: ["stats.paid"] });
  await t.endpoint(catchAll.id, receiver.endpointUrl("/all"));

  const started = await t.svix.statistics.aggregateEventTypes();
  assert.ok(started.id.startsWith("qtask_"), started.id);
  assert.equal(started.task, "event-type.aggregate");
  validDate(started.updatedAt, "updatedAt");
  const task = await finishedTask(t, started.id);
  assert.equal(task.task, "event-type.aggregate");
  const rows = task.data.event_types;
  assert.ok(Array.isArray(rows), JSON.stringify(task.data));
  assert.deepEqual(rows.filter((row) => row.appId === chosen.id), [
    { appId: chosen.id, explicitlySubscribedEventTypes: ["stats.created", "stats.paid"], hasCatchAllEndpoint: false },
  ]);
  assert.deepEqual(rows.filter((row) => row.appId === catchAll.id), [
    { appId: catchAll.id, explicitlySubscribedEventTypes: [], hasCatchAllEndpoint: true },
  ]);

  const listed = await t.svix.backgroundTask.list({ task: "event-type.aggregate", limit: 250, order: "descending" });
  assert.ok(listed.data.some((x) => x.id === started.id), JSON.stringify(listed.data.map((x) => x.id)));

  // Environment-wide: an application's portal token may not start it.
  const portal = await t.svix.authentication.appPortalAccess(chosen.id, {});
  await rejectsWith(403, t.client(portal.token).statistics.aggregateEventTypes(), "a portal token");
}

runIfMain(import.meta);
