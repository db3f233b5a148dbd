// Erasure through the JS SDK: message.bulkExpungeContent, message.expungeAllContents (a
// background task, polled with backgroundTask.get) and messageAttempt.expungeContent.
import assert from "node:assert/strict";
import { poll, rejectsWith, rejectsWithValidation, runIfMain, unique } from "./lib.mjs";

/** The task once it is no longer running; it must have finished (not failed). */
async function finishedTask(t, taskId) {
  const task = await poll(async () => {
    const current = await t.svix.backgroundTask.get(taskId);
    return current.status !== "running" ? current : null;
  }, `task ${taskId} to finish`);
  assert.equal(task.status, "finished", JSON.stringify(task));
  assert.ok(task.updatedAt instanceof Date && !Number.isNaN(task.updatedAt.getTime()), JSON.stringify(task));
  return task;
}

/** The message's payload (the SDK asks for `withContent=false` unless told otherwise). */
async function payload(t, appId, msgId) {
  return (await t.svix.message.get(appId, msgId, { withContent: true })).payload;
}

export async function message_bulk_expunge_content(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  await t.endpoint(app.id, receiver.endpointUrl("/bulk-expunge"));
  const first = await t.svix.message.create(app.id, { eventType: "erasure.bulk", payload: { secret: 1 } });
  const second = await t.svix.message.create(app.id, { eventType: "erasure.bulk", eventId: unique("order"), payload: { secret: 2 } });
  const kept = await t.svix.message.create(app.id, { eventType: "erasure.bulk", payload: { secret: 3 } });

  const out = await t.svix.message.bulkExpungeContent(app.uid, { ids: [first.id, second.eventId, "msg_missing"] });
  assert.deepEqual(out.results, {
    [first.id]: "expunged",
    [second.eventId]: "expunged",
    msg_missing: "not-found",
  });
  assert.deepEqual(await payload(t, app.id, first.id), {});
  assert.deepEqual(await payload(t, app.id, second.id), {});
  assert.deepEqual(await payload(t, app.id, kept.id), { secret: 3 });
  // The message itself stays, only its content is gone.
  assert.equal((await t.svix.message.get(app.id, first.id)).eventType, "erasure.bulk");

  // An empty list (the SDK's default body is `{}`) is refused and changes nothing.
  await rejectsWithValidation(t.svix.message.bulkExpungeContent(app.id, { ids: [] }), ["body", "ids"]);
  await rejectsWith(422, t.svix.message.bulkExpungeContent(app.id), "no ids at all");
  assert.deepEqual(await payload(t, app.id, kept.id), { secret: 3 });
  await rejectsWith(404, t.svix.message.bulkExpungeContent("app_doesnotexist", { ids: [kept.id] }), "an unknown application");
}

export async function message_expunge_all_contents_is_a_task(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const other = await t.app();
  await t.endpoint(app.id, receiver.endpointUrl("/purge"));
  const messages = [];
  for (const n of [0, 1, 2]) {
    messages.push(await t.svix.message.create(app.id, { eventType: "erasure.all", payload: { n } }));
  }
  const elsewhere = await t.svix.message.create(other.id, { eventType: "erasure.all", payload: { keep: true } });
  await t.attempts(app.id, messages[2].id, 1);

  const idempotencyKey = unique("purge");
  const started = await t.svix.message.expungeAllContents(app.id, { idempotencyKey });
  // The same key answers the same task rather than starting another.
  assert.equal((await t.svix.message.expungeAllContents(app.id, { idempotencyKey })).id, started.id);
  assert.ok(started.id.startsWith("qtask_"), started.id);
  assert.equal(started.task, "application.purge_content");
  assert.ok(["running", "finished"].includes(started.status), started.status);
  assert.ok(started.updatedAt instanceof Date && !Number.isNaN(started.updatedAt.getTime()), String(started.updatedAt));

  const task = await finishedTask(t, started.id);
  assert.equal(task.task, "application.purge_content");
  assert.equal(task.data.messagesPurged, 3, JSON.stringify(task.data));
  for (const message of messages) {
    assert.deepEqual(await payload(t, app.id, message.id), {});
  }
  assert.deepEqual(await payload(t, other.id, elsewhere.id), { keep: true });
  // Only message payloads go: the attempts and their response bodies stay (as in Svix;
  // messageAttempt.expungeContent removes a response).
  const attempts = await t.attempts(app.id, messages[2].id, 1);
  assert.deepEqual(attempts.map((a) => a.response), ['{"ok":true}']);

  const listed = await t.svix.backgroundTask.list({ task: "application.purge_content", limit: 250, order: "descending" });
  assert.ok(listed.data.some((x) => x.id === started.id), JSON.stringify(listed.data.map((x) => x.id)));

  // Again on the emptied application: nothing left to purge.
  const again = await finishedTask(t, (await t.svix.message.expungeAllContents(app.uid)).id);
  assert.equal(again.data.messagesPurged, 0, JSON.stringify(again.data));
  await rejectsWith(404, t.svix.message.expungeAllContents("app_doesnotexist"), "an unknown application");
}

export async function message_uid_named_like_an_erasure_route(t) {
  // `/msg/bulk-expunge` and `/msg/expunge-all-contents` are routes, and also the message of
  // that uid: message.get finds it.
  const app = await t.app();
  for (const eventId of ["bulk-expunge", "expunge-all-contents"]) {
    const msg = await t.svix.message.create(app.id, { eventType: "erasure.uid", eventId, payload: { eventId } });
    const got = await t.svix.message.get(app.id, eventId, { withContent: true });
    assert.equal(got.id, msg.id);
    assert.deepEqual(got.payload, { eventId });
  }
}

export async function message_attempt_expunge_content(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  await t.endpoint(app.id, receiver.endpointUrl("/attempt-expunge"));
  const msg = await t.svix.message.create(app.id, { eventType: "erasure.attempt", payload: { n: 1 } });
  const other = await t.svix.message.create(app.id, { eventType: "erasure.attempt", payload: { n: 2 } });
  const [attempt] = await t.attempts(app.id, msg.id, 1);
  assert.equal(attempt.response, '{"ok":true}');

  assert.equal(await t.svix.messageAttempt.expungeContent(app.id, msg.id, attempt.id), undefined);
  assert.equal((await t.svix.messageAttempt.get(app.id, msg.id, attempt.id)).response, "");
  const [listed] = (await t.svix.messageAttempt.listByMsg(app.id, msg.id)).data;
  assert.equal(listed.response, "");
  // The message keeps its content: only the attempt's response was expunged.
  assert.deepEqual(await payload(t, app.id, msg.id), { n: 1 });
  // Once more is fine (nothing left), by the application's uid too.
  assert.equal(await t.svix.messageAttempt.expungeContent(app.uid, msg.id, attempt.id), undefined);

  await rejectsWith(404, t.svix.messageAttempt.expungeContent(app.id, msg.id, "atmpt_missing"), "an unknown attempt");
  await rejectsWith(404, t.svix.messageAttempt.expungeContent(app.id, "msg_missing", attempt.id), "an unknown message");
  // An attempt is found under its own message only, and in its own application only.
  const [otherAttempt] = await t.attempts(app.id, other.id, 1);
  await rejectsWith(404, t.svix.messageAttempt.expungeContent(app.id, msg.id, otherAttempt.id), "another message's attempt");
  assert.equal((await t.svix.messageAttempt.get(app.id, other.id, otherAttempt.id)).response, '{"ok":true}');
  const elsewhere = await t.app();
  await rejectsWith(404, t.svix.messageAttempt.expungeContent(elsewhere.id, msg.id, attempt.id), "another application's attempt");
}

export async function erasure_with_portal_tokens(t) {
  // The erasure calls are writes to one application: its portal token may make them, a
  // read-only one may not, and neither reaches another application.
  const app = await t.app();
  const other = await t.app();
  const msg = await t.svix.message.create(app.id, { eventType: "erasure.portal", payload: { n: 1 } });
  const foreign = await t.svix.message.create(other.id, { eventType: "erasure.portal", payload: { n: 2 } });
  const readOnly = t.client((await t.svix.authentication.appPortalAccess(app.id, { readOnly: true })).token);
  await rejectsWith(403, readOnly.message.bulkExpungeContent(app.id, { ids: [msg.id] }), "bulk expunge with a read-only token");
  await rejectsWith(403, readOnly.message.expungeAllContents(app.id), "expunge all with a read-only token");
  assert.deepEqual(await payload(t, app.id, msg.id), { n: 1 });

  const portal = t.client((await t.svix.authentication.appPortalAccess(app.id, {})).token);
  await rejectsWith(403, portal.message.bulkExpungeContent(other.id, { ids: [foreign.id] }), "another application's messages");
  await rejectsWith(403, portal.message.expungeAllContents(other.id), "another application's contents");
  assert.deepEqual(await payload(t, other.id, foreign.id), { n: 2 });
  const started = await portal.message.expungeAllContents(app.id);
  // The task is the application's: its token reads it.
  const task = await poll(async () => {
    const current = await portal.backgroundTask.get(started.id);
    return current.status !== "running" ? current : null;
  }, "the purge to finish");
  assert.equal(task.data.messagesPurged, 1, JSON.stringify(task));
  assert.deepEqual(await payload(t, app.id, msg.id), {});
  assert.deepEqual(await payload(t, other.id, foreign.id), { n: 2 });
}

runIfMain(import.meta);
