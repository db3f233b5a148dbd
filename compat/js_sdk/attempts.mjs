// Message attempts through the JS SDK: listByEndpoint and listByMsg with the filters the SDK
// sends, get, resend, listAttemptedMessages and listAttemptedDestinations, and retries.
import assert from "node:assert/strict";
import { RETRY_TIMEOUT_MS, poll, rejectsWith, runIfMain, verifyDelivery } from "./lib.mjs";

export async function attempts_retry_and_list(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  receiver.script("/flaky", [500, 500, 200]);
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/flaky"));
  const payload = { retry: "me" };
  const msg = await t.svix.message.create(app.id, { eventType: "retry.test", payload, channels: ["eu"], tags: ["vip"] });

  const requests = await receiver.waitFor(3, { path: "/flaky", timeoutMs: RETRY_TIMEOUT_MS });
  assert.deepEqual(requests.map((r) => r.status), [500, 500, 200]);
  for (const request of requests) {
    verifyDelivery(request, secret, msg.id, payload);
  }
  assert.ok(requests[1].time - requests[0].time >= 500, "the retry schedule is 1s,1s");

  const attempts = await t.attempts(app.id, msg.id, 3);
  assert.deepEqual(attempts.map((a) => a.status), [2, 2, 0]);
  assert.deepEqual(attempts.map((a) => a.statusText), ["fail", "fail", "success"]);
  assert.deepEqual(attempts.map((a) => a.responseStatusCode), [500, 500, 200]);
  assert.ok(attempts.every((a) => a.triggerType === 0 && a.endpointId === endpoint.id && a.msgId === msg.id));
  assert.ok(attempts[0].response.includes('"ok":false'), attempts[0].response);
  assert.ok(attempts[2].response.includes('"ok":true'), attempts[2].response);

  const ids = (page) => page.data.map((a) => a.id).sort();
  const all = attempts.map((a) => a.id).sort();
  assert.deepEqual(ids(await t.svix.messageAttempt.listByEndpoint(app.id, endpoint.id)), all);
  assert.deepEqual(ids(await t.svix.messageAttempt.listByEndpoint(app.uid, endpoint.id)), all);
  const hourAgo = new Date(Date.now() - 3_600_000);
  const inAnHour = new Date(Date.now() + 3_600_000);
  const filtered = await t.svix.messageAttempt.listByEndpoint(app.id, endpoint.id, {
    limit: 10,
    status: 0,
    statusCodeClass: 200,
    channel: "eu",
    tag: "vip",
    eventTypes: ["retry.test"],
    before: inAnHour,
    after: hourAgo,
    withMsg: true,
    withContent: true,
    expandedStatuses: true,
  });
  assert.deepEqual(filtered.data.map((a) => a.id), [attempts[2].id]);
  assert.deepEqual(filtered.data[0].msg.payload, payload);
  assert.deepEqual(ids(await t.svix.messageAttempt.listByEndpoint(app.id, endpoint.id, { status: 2 })), [attempts[0].id, attempts[1].id].sort());
  assert.deepEqual((await t.svix.messageAttempt.listByEndpoint(app.id, endpoint.id, { statusCodeClass: 400 })).data, []);
  assert.deepEqual((await t.svix.messageAttempt.listByEndpoint(app.id, endpoint.id, { before: hourAgo })).data, []);
  assert.deepEqual((await t.svix.messageAttempt.listByEndpoint(app.id, endpoint.id, { channel: "us" })).data, []);
  const page = await t.svix.messageAttempt.listByEndpoint(app.id, endpoint.id, { limit: 2 });
  assert.equal(page.data.length, 2);
  assert.equal(page.done, false);
  const rest = await t.svix.messageAttempt.listByEndpoint(app.id, endpoint.id, { limit: 2, iterator: page.iterator });
  assert.equal(rest.data.length, 1);
  assert.deepEqual([...page.data, ...rest.data].map((a) => a.id).sort(), all);

  const byMsg = await t.svix.messageAttempt.listByMsg(app.id, msg.id, {
    endpointId: endpoint.id,
    status: 2,
    statusCodeClass: 500,
    withContent: false,
    limit: 5,
  });
  assert.deepEqual(byMsg.data.map((a) => a.id).sort(), [attempts[0].id, attempts[1].id].sort());
  // An endpoint made after the message has none of its attempts.
  const { endpoint: later } = await t.endpoint(app.id, receiver.endpointUrl("/later"));
  assert.deepEqual((await t.svix.messageAttempt.listByMsg(app.id, msg.id, { endpointId: later.id })).data, []);
  await rejectsWith(404, t.svix.messageAttempt.listByMsg(app.id, "msg_doesnotexist"), "attempts of an unknown message");
  await rejectsWith(404, t.svix.messageAttempt.listByEndpoint(app.id, "ep_doesnotexist"), "attempts of an unknown endpoint");
}

export async function attempt_get(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  await t.endpoint(app.id, receiver.endpointUrl("/attempt-get"));
  const msg = await t.svix.message.create(app.id, { eventType: "attempt.get", payload: { n: 1 } });
  const [listed] = await t.attempts(app.id, msg.id, 1);
  const attempt = await t.svix.messageAttempt.get(app.id, msg.id, listed.id);
  assert.equal(attempt.id, listed.id);
  assert.equal(attempt.msgId, msg.id);
  assert.equal(attempt.status, 0);
  assert.equal(attempt.responseStatusCode, 200);
  assert.ok(!Number.isNaN(attempt.timestamp.getTime()));
  await rejectsWith(404, t.svix.messageAttempt.get(app.id, msg.id, "atmpt_doesnotexist"), "an unknown attempt");
}

export async function attempt_resend(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const { endpoint, secret } = await t.endpoint(app.id, receiver.endpointUrl("/resend"));
  const msg = await t.svix.message.create(app.id, { eventType: "resend.test", payload: { again: true } });
  await receiver.waitFor(1, { path: "/resend" });
  await t.attempts(app.id, msg.id, 1);

  // resend is a POST without a body (and so without a content type).
  const answer = await t.svix.messageAttempt.resend(app.id, msg.id, endpoint.id);
  assert.deepEqual(answer, {});
  const [, second] = await receiver.waitFor(2, { path: "/resend" });
  verifyDelivery(second, secret, msg.id, { again: true });
  const attempts = await t.attempts(app.id, msg.id, 2);
  assert.deepEqual(attempts.map((a) => a.triggerType), [0, 1]);
  assert.ok(attempts.every((a) => a.status === 0));
  await rejectsWith(404, t.svix.messageAttempt.resend(app.id, "msg_doesnotexist", endpoint.id), "resending an unknown message");
}

export async function attempted_messages_and_destinations(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  receiver.script("/dest-fail", Array(10).fill(500));
  const { endpoint: ok } = await t.endpoint(app.id, receiver.endpointUrl("/dest-ok"));
  const { endpoint: failing } = await t.endpoint(app.id, receiver.endpointUrl("/dest-fail"));
  const first = await t.svix.message.create(app.id, { eventType: "attempted.one", payload: { n: 1 } });
  const second = await t.svix.message.create(app.id, {
    eventType: "attempted.two",
    payload: { n: 2 },
    channels: ["eu"],
    tags: ["t1"],
  });

  const byId = await poll(
    async () => {
      const data = (await t.svix.messageAttempt.listAttemptedDestinations(app.id, second.id)).data;
      const map = Object.fromEntries(data.map((d) => [d.id, d]));
      return data.length === 2 && map[failing.id].status === 2 ? map : null;
    },
    "both destinations settled",
    RETRY_TIMEOUT_MS,
  );
  assert.equal(byId[ok.id].status, 0);
  assert.equal(byId[ok.id].statusText, "success");
  assert.equal(byId[ok.id].url, receiver.endpointUrl("/dest-ok"));
  assert.equal(byId[failing.id].statusText, "fail");
  assert.ok(!Number.isNaN(byId[failing.id].createdAt.getTime()));
  const page = await t.svix.messageAttempt.listAttemptedDestinations(app.id, second.id, { limit: 1 });
  assert.equal(page.data.length, 1);
  assert.equal(page.done, false);
  const rest = await t.svix.messageAttempt.listAttemptedDestinations(app.id, second.id, { limit: 1, iterator: page.iterator });
  assert.equal(rest.data.length, 1);
  assert.notEqual(rest.data[0].id, page.data[0].id);

  await t.attempts(app.id, first.id, 1);
  const listed = await t.svix.messageAttempt.listAttemptedMessages(app.id, ok.id);
  assert.deepEqual(listed.data.map((m) => m.id), [second.id, first.id]);
  const newest = listed.data[0];
  assert.equal(newest.status, 0);
  assert.equal(newest.statusText, "success");
  assert.equal(newest.eventType, "attempted.two");
  assert.deepEqual(newest.channels, ["eu"]);
  assert.deepEqual(newest.tags, ["t1"]);
  assert.deepEqual(newest.payload, {}, "the SDK asks without content by default");

  const messages = async (options) => (await t.svix.messageAttempt.listAttemptedMessages(app.id, ok.id, options)).data;
  assert.deepEqual((await messages({ withContent: true }))[0].payload, { n: 2 });
  const one = await t.svix.messageAttempt.listAttemptedMessages(app.id, ok.id, { limit: 1 });
  assert.deepEqual(one.data.map((m) => m.id), [second.id]);
  assert.equal(one.done, false);
  assert.deepEqual((await messages({ limit: 1, iterator: one.iterator })).map((m) => m.id), [first.id]);
  const filtered = await messages({ channel: "eu", tag: "t1", status: 0, eventTypes: ["attempted.two", "other"] });
  assert.deepEqual(filtered.map((m) => m.id), [second.id]);
  assert.deepEqual(await messages({ status: 2 }), []);
  assert.deepEqual((await messages({ before: second.timestamp })).map((m) => m.id), [first.id]);
  assert.deepEqual((await messages({ after: new Date(Date.now() + 3_600_000) })), []);
  await rejectsWith(404, t.svix.messageAttempt.listAttemptedMessages(app.id, "ep_doesnotexist"), "an unknown endpoint");
  await rejectsWith(404, t.svix.messageAttempt.listAttemptedDestinations(app.id, "msg_doesnotexist"), "an unknown message");
}

runIfMain(import.meta);
