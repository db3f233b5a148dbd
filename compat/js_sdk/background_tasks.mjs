// Endpoint recover and replay-missing through the JS SDK, and the background tasks they
// start (backgroundTask.get and list with filters).
import assert from "node:assert/strict";
import { RETRY_TIMEOUT_MS, poll, rejectsWith, runIfMain, verifyDelivery } from "./lib.mjs";

export async function endpoint_recover_and_background_tasks(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  receiver.script("/recover", [500, 500, 500]);
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/recover"));
  const msg = await t.svix.message.create(app.id, { eventType: "recover.test", payload: { lost: true } });
  const failed = await t.attempts(app.id, msg.id, 3, RETRY_TIMEOUT_MS);
  assert.ok(failed.every((a) => a.status === 2), JSON.stringify(failed));

  // `since` goes out in the body as Date.toISOString() (milliseconds, `Z`).
  const task = await t.svix.endpoint.recover(app.id, endpoint.id, { since: new Date(msg.timestamp.getTime() - 1000) });
  assert.ok(task.id.startsWith("qtask_"), task.id);
  assert.equal(task.task, "endpoint.recover");
  assert.ok(["running", "finished"].includes(task.status), task.status);

  const done = await poll(async () => {
    const current = await t.svix.backgroundTask.get(task.id);
    return current.status === "finished" ? current : null;
  }, "the recover task to finish");
  assert.equal(done.task, "endpoint.recover");
  assert.equal(done.data.messagesSent, 1);

  const requests = await receiver.waitFor(4, { path: "/recover" });
  verifyDelivery(requests[3], secret, msg.id, { lost: true });
  const attempts = await t.attempts(app.id, msg.id, 4);
  assert.equal(attempts.at(-1).triggerType, 1);
  assert.equal(attempts.at(-1).status, 0);

  const listed = await t.svix.backgroundTask.list({ task: "endpoint.recover", status: "finished", limit: 250, order: "descending" });
  assert.ok(listed.data.some((x) => x.id === task.id), JSON.stringify(listed.data.map((x) => x.id)));
  assert.ok(listed.data.every((x) => x.task === "endpoint.recover" && x.status === "finished"));
  const running = await t.svix.backgroundTask.list({ status: "running", task: "endpoint.recover" });
  assert.ok(!running.data.some((x) => x.id === task.id));

  // replay-missing finds nothing to send: the endpoint got every message of the window.
  const replay = await t.svix.endpoint.replayMissing(app.id, endpoint.id, { since: new Date(msg.timestamp.getTime() - 1000) });
  assert.equal(replay.task, "endpoint.replay");
  const replayed = await poll(async () => {
    const current = await t.svix.backgroundTask.get(replay.id);
    return current.status === "finished" ? current : null;
  }, "the replay task to finish");
  assert.equal(replayed.data.messagesSent ?? 0, 0, JSON.stringify(replayed.data));

  await rejectsWith(404, t.svix.backgroundTask.get("qtask_doesnotexist"), "an unknown task");
  await rejectsWith(404, t.svix.endpoint.recover(app.id, "ep_doesnotexist", { since: msg.timestamp }), "recovering an unknown endpoint");
}

export async function endpoint_replay_missing_sends_what_was_never_sent(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const before = await t.svix.message.create(app.id, { eventType: "replay.missing", payload: { early: true } });
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/missing"));
  const task = await t.svix.endpoint.replayMissing(app.id, endpoint.id, { since: new Date(before.timestamp.getTime() - 1000) });
  const done = await poll(async () => {
    const current = await t.svix.backgroundTask.get(task.id);
    return current.status === "finished" ? current : null;
  }, "the replay task to finish");
  assert.equal(done.task, "endpoint.replay");
  const [request] = await receiver.waitFor(1, { path: "/missing" });
  verifyDelivery(request, secret, before.id, { early: true });
}

runIfMain(import.meta);
