// Replays through the JS SDK: endpoint.bulkReplay (Svix's, task `endpoint.bulk-replay`) with
// its filters and refusals, endpoint.recover and endpoint.replayMissing limited by `until`,
// and hookd's own replays, which svix 2.5.0 has no method for (a message to all its endpoints,
// `POST /app/{app}/msg/{msg}/replay`, and the bulk replay by filter with a dry run,
// `POST /app/{app}/replay`), made with `t.raw`.
import assert from "node:assert/strict";
import { RETRY_TIMEOUT_MS, poll, rejectsWith, rejectsWithValidation, runIfMain, sleep, verifyDelivery } from "./lib.mjs";

async function finishedTask(t, taskId) {
  const task = await poll(async () => {
    const current = await t.svix.backgroundTask.get(taskId);
    return current.status !== "running" ? current : null;
  }, `task ${taskId} to finish`);
  assert.equal(task.status, "finished", JSON.stringify(task));
  return task;
}

const ago = (date, ms = 1000) => new Date(date.getTime() - ms);

export async function endpoint_bulk_replay(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/bulk"));
  const paid = await t.svix.message.create(app.id, { eventType: "replay.paid", payload: { n: 1 } });
  await t.svix.message.create(app.id, { eventType: "replay.created", payload: { n: 2 } });
  await receiver.waitFor(2, { path: "/bulk" });
  await poll(async () => (await t.svix.messageAttempt.listByEndpoint(app.id, endpoint.id)).data.length === 2, "both attempts recorded");
  const since = ago(paid.timestamp, 60_000);

  const idempotencyKey = `bulk-${paid.id}`;
  const started = await t.svix.endpoint.bulkReplay(app.id, endpoint.id, { since, eventTypes: ["replay.paid"] }, { idempotencyKey });
  // The same key answers the same task: the message is replayed once.
  const same = await t.svix.endpoint.bulkReplay(app.id, endpoint.id, { since, eventTypes: ["replay.paid"] }, { idempotencyKey });
  assert.equal(same.id, started.id);
  assert.ok(started.id.startsWith("qtask_"), started.id);
  assert.equal(started.task, "endpoint.bulk-replay");
  assert.ok(started.updatedAt instanceof Date && !Number.isNaN(started.updatedAt.getTime()), String(started.updatedAt));
  const task = await finishedTask(t, started.id);
  assert.equal(task.task, "endpoint.bulk-replay");
  assert.equal(task.data.messagesSent, 1, JSON.stringify(task.data));
  const requests = await receiver.waitFor(3, { path: "/bulk" });
  verifyDelivery(requests[2], secret, paid.id, { n: 1 });
  await sleep(300);
  assert.equal(receiver.requests("/bulk").length, 3);
  const attempts = await t.attempts(app.id, paid.id, 2);
  assert.deepEqual(attempts.map((a) => a.triggerType), [0, 1]);

  // By the app's uid and the endpoint's, with a window that ended before the messages: none.
  const { uid } = await t.svix.endpoint.patch(app.id, endpoint.id, { uid: "bulk-ep" });
  assert.equal(uid, "bulk-ep");
  const none = await t.svix.endpoint.bulkReplay(app.uid, "bulk-ep", { since, until: ago(paid.timestamp, 30_000) });
  assert.equal((await finishedTask(t, none.id)).data.messagesSent ?? 0, 0);

  // What hookd cannot select by is refused (422 naming the field), and starts nothing.
  const before = (await t.svix.backgroundTask.list({ task: "endpoint.bulk-replay", limit: 250 })).data.length;
  await rejectsWithValidation(t.svix.endpoint.bulkReplay(app.id, endpoint.id, { since, channel: "eu" }), ["body", "channel"]);
  await rejectsWithValidation(t.svix.endpoint.bulkReplay(app.id, endpoint.id, { since, tag: "x" }), ["body", "tag"]);
  await rejectsWithValidation(t.svix.endpoint.bulkReplay(app.id, endpoint.id, { since, statusCodeClass: 500 }), ["body", "statusCodeClass"]);
  await rejectsWithValidation(t.svix.endpoint.bulkReplay(app.id, endpoint.id, { since, status: 1 }), ["body", "status"]);
  await rejectsWithValidation(t.svix.endpoint.bulkReplay(app.id, endpoint.id, { since, until: since }), ["body", "until"]);
  await rejectsWithValidation(t.svix.endpoint.bulkReplay(app.id, endpoint.id, { since, eventTypes: ["ok", "not a type!"] }), ["body", "eventTypes", "1"]);
  assert.equal((await t.svix.backgroundTask.list({ task: "endpoint.bulk-replay", limit: 250 })).data.length, before);
  await rejectsWith(404, t.svix.endpoint.bulkReplay(app.id, "ep_doesnotexist", { since }), "an unknown endpoint");
}

export async function endpoint_bulk_replay_by_status(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  receiver.script("/status", [500, 500, 500]);
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/status"));
  const failed = await t.svix.message.create(app.id, { eventType: "replay.status", payload: { failed: true } });
  const failedAttempts = await t.attempts(app.id, failed.id, 3, RETRY_TIMEOUT_MS);
  assert.ok(failedAttempts.every((a) => a.status === 2), JSON.stringify(failedAttempts));
  const ok = await t.svix.message.create(app.id, { eventType: "replay.status", payload: { failed: false } });
  await t.attempts(app.id, ok.id, 1);
  const since = ago(failed.timestamp);

  // status 2 (Fail): only the message whose latest delivery failed; the receiver now accepts.
  const retried = await finishedTask(t, (await t.svix.endpoint.bulkReplay(app.id, endpoint.id, { since, status: 2 })).id);
  assert.equal(retried.data.messagesSent, 1, JSON.stringify(retried.data));
  const requests = await receiver.waitFor(5, { path: "/status" });
  verifyDelivery(requests[4], secret, failed.id, { failed: true });
  await t.attempts(app.id, failed.id, 4);

  // status 0 (Success): now both messages' latest deliveries succeeded.
  const again = await finishedTask(t, (await t.svix.endpoint.bulkReplay(app.id, endpoint.id, { since, status: 0 })).id);
  assert.equal(again.data.messagesSent, 2, JSON.stringify(again.data));
  await receiver.waitFor(7, { path: "/status" });
}

export async function endpoint_recover_and_replay_missing_until(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  receiver.script("/window", [500, 500, 500, 500, 500, 500]);
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/window"));
  const first = await t.svix.message.create(app.id, { eventType: "replay.window", payload: { n: 1 } });
  await sleep(50);
  const second = await t.svix.message.create(app.id, { eventType: "replay.window", payload: { n: 2 } });
  await t.attempts(app.id, first.id, 3, RETRY_TIMEOUT_MS);
  await t.attempts(app.id, second.id, 3, RETRY_TIMEOUT_MS);
  await receiver.waitFor(6, { path: "/window" });

  // `until` is exclusive: only the first message is recovered.
  const window = { since: ago(first.timestamp), until: second.timestamp };
  const recovered = await finishedTask(t, (await t.svix.endpoint.recover(app.id, endpoint.id, window)).id);
  assert.equal(recovered.task, "endpoint.recover");
  assert.equal(recovered.data.messagesSent, 1, JSON.stringify(recovered.data));
  const requests = await receiver.waitFor(7, { path: "/window" });
  verifyDelivery(requests[6], secret, first.id, { n: 1 });
  assert.equal((await t.attempts(app.id, second.id, 3)).length, 3);

  // A new endpoint misses both; replayMissing with the same window sends only the first.
  const late = await t.endpoint(app.id, receiver.endpointUrl("/late"));
  const missing = await finishedTask(t, (await t.svix.endpoint.replayMissing(app.id, late.endpoint.id, window)).id);
  assert.equal(missing.task, "endpoint.replay");
  assert.equal(missing.data.messagesSent, 1, JSON.stringify(missing.data));
  const [lateRequest] = await receiver.waitFor(1, { path: "/late" });
  verifyDelivery(lateRequest, late.secret, first.id, { n: 1 });
  await sleep(300);
  assert.equal(receiver.requests("/late").length, 1);

  await rejectsWithValidation(t.svix.endpoint.recover(app.id, endpoint.id, { since: window.until, until: window.since }), ["body", "until"]);
  await rejectsWithValidation(t.svix.endpoint.replayMissing(app.id, endpoint.id, { since: window.until, until: window.until }), ["body", "until"]);
  await rejectsWith(404, t.svix.endpoint.replayMissing(app.id, "ep_doesnotexist", window), "an unknown endpoint");
}

export async function message_replay_to_every_endpoint(t) {
  // svix 2.5.0 has no call for hookd's `POST /app/{app}/msg/{msg}/replay`: `t.raw`.
  const receiver = await t.receiver();
  const app = await t.app();
  const a = await t.endpoint(app.id, receiver.endpointUrl("/replay-a"));
  const b = await t.endpoint(app.id, receiver.endpointUrl("/replay-b"));
  const msg = await t.svix.message.create(app.id, { eventType: "replay.one", payload: { one: true } });
  await t.attempts(app.id, msg.id, 2);

  const answer = await t.raw("POST", `/api/v1/app/${app.uid}/msg/${msg.id}/replay`);
  assert.equal(answer.status, 202, JSON.stringify(answer.body));
  assert.deepEqual(answer.body, {});
  verifyDelivery((await receiver.waitFor(2, { path: "/replay-a" }))[1], a.secret, msg.id, { one: true });
  verifyDelivery((await receiver.waitFor(2, { path: "/replay-b" }))[1], b.secret, msg.id, { one: true });
  const attempts = await t.attempts(app.id, msg.id, 4);
  assert.deepEqual(attempts.map((x) => x.triggerType).sort(), [0, 0, 1, 1]);

  const unknown = await t.raw("POST", `/api/v1/app/${app.id}/msg/msg_doesnotexist/replay`);
  assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
  assert.equal(unknown.body.code, "not_found", JSON.stringify(unknown.body));
}

export async function app_bulk_replay_with_dry_run(t) {
  // svix 2.5.0 has no call for hookd's `POST /app/{app}/replay`: `t.raw`; the task it starts
  // is read with backgroundTask.get.
  const receiver = await t.receiver();
  const app = await t.app();
  receiver.script("/app-replay", [500, 500, 500]);
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/app-replay"));
  const other = await t.endpoint(app.id, receiver.endpointUrl("/app-replay-other"));
  const msg = await t.svix.message.create(app.id, { eventType: "replay.app", payload: { app: true } });
  await t.attempts(app.id, msg.id, 4, RETRY_TIMEOUT_MS);
  const since = ago(msg.timestamp).toISOString();
  const replay = (body) => t.raw("POST", `/api/v1/app/${app.id}/replay`, { body: { since, ...body } });

  // The default status is "failed": only the endpoint that failed; a dry run counts it.
  const dry = await replay({ dryRun: true });
  assert.equal(dry.status, 200, JSON.stringify(dry.body));
  assert.deepEqual(dry.body, { count: 1, stillRetrying: 0 });
  assert.deepEqual((await replay({ dryRun: true, status: "any" })).body, { count: 2, stillRetrying: 0 });
  assert.deepEqual((await replay({ dryRun: true, status: "any", endpointId: other.endpoint.id })).body, { count: 1, stillRetrying: 0 });
  assert.deepEqual((await replay({ dryRun: true, eventTypes: ["replay.other"] })).body, { count: 0, stillRetrying: 0 });
  assert.equal(receiver.requests("/app-replay").length, 3);

  const started = await replay({});
  assert.equal(started.status, 202, JSON.stringify(started.body));
  assert.equal(started.body.task, "endpoint.bulk-replay");
  const task = await finishedTask(t, started.body.id);
  assert.equal(task.data.messagesSent, 1, JSON.stringify(task.data));
  verifyDelivery((await receiver.waitFor(4, { path: "/app-replay" }))[3], secret, msg.id, { app: true });
  assert.equal(receiver.requests("/app-replay-other").length, 1);
  assert.equal((await t.attempts(app.id, msg.id, 5)).length, 5);

  for (const [body, loc] of [
    [{ eventTypes: ["not a type!"] }, ["body", "eventTypes", "0"]],
    [{ status: "sometimes" }, ["body", "status"]],
    [{ until: since }, ["body", "until"]],
  ]) {
    const refused = await replay({ dryRun: true, ...body });
    assert.equal(refused.status, 422, JSON.stringify(refused.body));
    assert.deepEqual(refused.body.detail[0].loc, loc, JSON.stringify(refused.body));
  }
  const unknown = await replay({ endpointId: "ep_doesnotexist" });
  assert.equal(unknown.status, 404, JSON.stringify(unknown.body));
  assert.equal(endpoint.id.startsWith("ep_"), true);
}

runIfMain(import.meta);
