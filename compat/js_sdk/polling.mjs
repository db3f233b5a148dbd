// Polling endpoints through the JS SDK's `message.poller`: `poll` (the client keeps the
// iterator), `consumerPoll` (hookd keeps a named consumer's position) and `consumerSeek`. A
// polling endpoint is an endpoint whose url is `polling:`; it is never sent to, and its
// messages come back in the order they were committed.
import assert from "node:assert/strict";
import { rejectsWith, rejectsWithValidation, runIfMain, sleep, unique } from "./lib.mjs";

async function send(t, appId, eventType, n, channels = undefined) {
  return (await t.svix.message.create(appId, { eventType, payload: { n }, channels })).id;
}

/**
 * A time strictly between the messages sent before and after this call. Not a message's own
 * `timestamp`: the SDK parses it into a `Date`, which keeps milliseconds only, while hookd
 * stamps microseconds, so that `Date` is (almost always) a little before the message itself.
 */
async function between() {
  await sleep(5);
  const mark = new Date();
  await sleep(5);
  return mark;
}

/** Every message of the sink from `iterator` on, `limit` at a time, until `done`. */
async function drain(t, appId, sinkId, { iterator = null, limit = 2 } = {}) {
  const ids = [];
  for (let pages = 0; ; pages++) {
    assert.ok(pages < 100, "the poller never said done");
    const page = await t.svix.message.poller.poll(appId, sinkId, { limit, iterator });
    assert.ok(page.data.length <= limit, `a page of ${page.data.length} > limit ${limit}`);
    assert.equal(typeof page.iterator, "string");
    assert.ok(page.iterator.length > 0);
    ids.push(...page.data.map((m) => m.id));
    iterator = page.iterator;
    if (page.done) {
      return { ids, iterator };
    }
  }
}

export async function poller_poll_pages_filtered_messages_in_order(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const sink = await t.svix.endpoint.create(app.id, { url: "polling:", eventTypes: ["poll.paid"], channels: ["eu"] });
  assert.equal(sink.url, "polling:");
  assert.equal((await t.svix.endpoint.get(app.id, sink.id)).url, "polling:");
  await t.endpoint(app.id, receiver.endpointUrl("/beside-poller"));
  const wanted = [];
  let afterFirstRound = null;
  for (let n = 0; n < 5; n++) {
    wanted.push(await send(t, app.id, "poll.paid", n, ["eu"]));
    await send(t, app.id, "poll.other", n, ["eu"]);
    await send(t, app.id, "poll.paid", n, ["us"]);
    if (n === 0) {
      afterFirstRound = await between();
    }
  }

  const { ids, iterator } = await drain(t, app.id, sink.id);
  assert.deepEqual(ids, wanted);
  const [first] = (await t.svix.message.poller.poll(app.id, sink.id, { limit: 1 })).data;
  assert.equal(first.id, wanted[0]);
  assert.equal(first.eventType, "poll.paid");
  assert.deepEqual(first.payload, { n: 0 });
  assert.deepEqual(first.channels, ["eu"]);
  assert.ok(first.timestamp instanceof Date && !Number.isNaN(first.timestamp.getTime()), String(first.timestamp));

  // The iterator of a finished drain advances: what is sent afterwards, and only that.
  const later = [await send(t, app.id, "poll.paid", 5, ["eu"]), await send(t, app.id, "poll.paid", 6, ["eu"])];
  await send(t, app.id, "poll.other", 5, ["eu"]);
  const next = await drain(t, app.id, sink.id, { iterator });
  assert.deepEqual(next.ids, later);
  const empty = await t.svix.message.poller.poll(app.id, sink.id, { iterator: next.iterator });
  assert.deepEqual(empty.data, []);
  assert.equal(empty.done, true);

  // The poll's own filters narrow the endpoint's; `after` (a Date, which the SDK writes with
  // toISOString) starts after that time.
  const byType = await t.svix.message.poller.poll(app.id, sink.id, { eventType: "poll.other", limit: 250 });
  assert.deepEqual(byType.data, []);
  const byChannel = await t.svix.message.poller.poll(app.id, sink.id, { channel: "eu", eventType: "poll.paid", limit: 250 });
  assert.deepEqual(byChannel.data.map((m) => m.id), [...wanted, ...later]);
  const afterFirst = await t.svix.message.poller.poll(app.id, sink.id, { after: afterFirstRound, limit: 250 });
  assert.deepEqual(afterFirst.data.map((m) => m.id), [...wanted.slice(1), ...later]);

  // The push endpoint beside it got every message; the polling one was never sent to.
  await receiver.waitFor(18, { path: "/beside-poller" });
  assert.equal(receiver.requests("/beside-poller").length, 18);
  assert.deepEqual((await t.svix.messageAttempt.listByEndpoint(app.id, sink.id)).data, []);
}

export async function poller_poll_misses_nothing_sent_concurrently(t) {
  // Messages committed while a client pages through the sink are all served, once each: three
  // lanes send in parallel (each create awaited before its next), the client polls meanwhile.
  const app = await t.app();
  const sink = await t.svix.endpoint.create(app.id, { url: "polling:" });
  const lanes = { a: [], b: [], c: [] };
  const lane = async (name) => {
    for (let n = 0; n < 10; n++) {
      lanes[name].push(await send(t, app.id, "poll.race", `${name}${n}`));
    }
  };
  const got = [];
  let iterator = null;
  let sending = Promise.all([lane("a"), lane("b"), lane("c")]);
  let finished = false;
  let pollsWhileSending = 0;
  sending = sending.then(() => {
    finished = true;
  });
  for (let rounds = 0; ; rounds++) {
    assert.ok(rounds < 1000, "the poller never caught up");
    const wasFinished = finished;
    if (!wasFinished) {
      pollsWhileSending++;
    }
    const page = await t.svix.message.poller.poll(app.id, sink.id, { limit: 4, iterator });
    got.push(...page.data.map((m) => m.id));
    iterator = page.iterator;
    if (page.done && wasFinished) {
      break;
    }
    if (page.done) {
      await sleep(20);
    }
  }
  await sending;
  assert.ok(pollsWhileSending > 1, `only ${pollsWhileSending} poll(s) overlapped the sending`);
  assert.equal(got.length, 30, JSON.stringify(got));
  assert.equal(new Set(got).size, 30, "a message was served twice");
  assert.deepEqual([...got].sort(), [...lanes.a, ...lanes.b, ...lanes.c].sort());
  // Within a lane, a message committed after another is served after it.
  for (const ids of Object.values(lanes)) {
    assert.deepEqual(got.filter((id) => ids.includes(id)), ids);
  }
}

export async function poller_consumer_poll_keeps_position_and_seek_moves_it(t) {
  const app = await t.app();
  const sinkUid = unique("poll-sink");
  const sink = await t.svix.endpoint.create(app.id, { url: "polling:", uid: sinkUid });
  const sent = [];
  let afterThird = null;
  for (let n = 0; n < 5; n++) {
    sent.push(await send(t, app.id, "poll.consumed", n));
    if (n === 2) {
      afterThird = await between();
    }
  }
  const consumer = unique("worker");
  const poll = (iterator = null, limit = 2) =>
    t.svix.message.poller.consumerPoll(app.id, sink.id, consumer, { limit, iterator });

  // By the sink's uid and the application's uid too.
  let page = await t.svix.message.poller.consumerPoll(app.uid, sinkUid, consumer, { limit: 2 });
  assert.deepEqual(page.data.map((m) => m.id), sent.slice(0, 2));
  assert.equal(page.done, false);
  // Without the iterator the position has not moved: the same page again.
  const again = await poll();
  assert.deepEqual(again.data.map((m) => m.id), sent.slice(0, 2));
  // Presenting the iterator commits it and answers the next page.
  const firstIterator = page.iterator;
  page = await poll(firstIterator);
  assert.deepEqual(page.data.map((m) => m.id), sent.slice(2, 4));
  const secondIterator = page.iterator;
  page = await poll(secondIterator);
  assert.deepEqual(page.data.map((m) => m.id), sent.slice(4));
  assert.equal(page.done, true);
  page = await poll(page.iterator);
  assert.deepEqual(page.data, []);
  assert.equal(page.done, true);
  // An iterator behind the committed position (another client of the consumer went on) is a
  // conflict, and moves nothing back.
  await rejectsWith(409, poll(firstIterator), "an iterator behind the consumer's position");
  assert.deepEqual((await poll()).data, []);
  // Another consumer of the same sink starts at the beginning, on its own.
  const other = await t.svix.message.poller.consumerPoll(app.id, sink.id, unique("other"), { limit: 250 });
  assert.deepEqual(other.data.map((m) => m.id), sent);

  // Seek backwards to a time between the third message and the fourth.
  const seek = await t.svix.message.poller.consumerSeek(app.id, sink.id, consumer, { after: afterThird });
  assert.equal(typeof seek.iterator, "string");
  assert.ok(seek.iterator.length > 0);
  const fromSeek = await poll(null, 10);
  assert.deepEqual(fromSeek.data.map((m) => m.id), sent.slice(3));
  // Seek to before everything: the whole stream again.
  await t.svix.message.poller.consumerSeek(app.id, sink.id, consumer, { after: new Date(Date.now() - 3_600_000) });
  assert.deepEqual((await poll(null, 250)).data.map((m) => m.id), sent);
  // A seek past everything: nothing until a new message, which then comes.
  await t.svix.message.poller.consumerSeek(app.id, sink.id, consumer, { after: new Date(Date.now() + 86_400_000) }, { idempotencyKey: unique("seek") });
  assert.deepEqual((await poll()).data, []);
}

export async function poller_read_only_token_polls(t) {
  // Polling is a read: an application's read-only portal token may poll and consumer-poll its
  // sink (hookd: seek is a write), never another application's.
  const app = await t.app();
  const other = await t.app();
  const sink = await t.svix.endpoint.create(app.id, { url: "polling:" });
  const foreign = await t.svix.endpoint.create(other.id, { url: "polling:" });
  const id = await send(t, app.id, "poll.portal", 1);
  const readOnly = t.client((await t.svix.authentication.appPortalAccess(app.id, { readOnly: true })).token);
  assert.deepEqual((await readOnly.message.poller.poll(app.id, sink.id)).data.map((m) => m.id), [id]);
  assert.deepEqual((await readOnly.message.poller.consumerPoll(app.id, sink.id, "ro")).data.map((m) => m.id), [id]);
  await rejectsWith(403, readOnly.message.poller.consumerSeek(app.id, sink.id, "ro", { after: new Date() }), "seek with a read-only token");
  await rejectsWith(403, readOnly.message.poller.poll(other.id, foreign.id), "another application's sink");
}

export async function poller_errors(t) {
  const receiver = await t.receiver();
  const app = await t.app();
  const sink = await t.svix.endpoint.create(app.id, { url: "polling:" });
  const { endpoint: push } = await t.endpoint(app.id, receiver.endpointUrl("/not-a-poller"));
  await send(t, app.id, "poll.errors", 1);
  const { iterator } = await t.svix.message.poller.poll(app.id, sink.id);

  const garbage = await rejectsWithValidation(t.svix.message.poller.poll(app.id, sink.id, { iterator: "garbage!" }), ["query", "iterator"]);
  assert.ok(garbage.body.detail[0].msg.length > 0);
  // An iterator that looks right but was altered is refused too, by both polls.
  const altered = iterator.slice(0, -1) + (iterator.endsWith("A") ? "B" : "A");
  await rejectsWithValidation(t.svix.message.poller.poll(app.id, sink.id, { iterator: altered }), ["query", "iterator"]);
  await rejectsWithValidation(t.svix.message.poller.consumerPoll(app.id, sink.id, "c", { iterator: "garbage!" }), ["query", "iterator"]);
  await rejectsWithValidation(t.svix.message.poller.consumerPoll(app.id, sink.id, "c", { limit: 251 }), ["query", "limit"]);
  await rejectsWithValidation(t.svix.message.poller.poll(app.id, sink.id, { limit: 0 }), ["query", "limit"]);
  // A refused poll moved nothing: the consumer still starts at the beginning.
  assert.equal((await t.svix.message.poller.consumerPoll(app.id, sink.id, "c")).data.length, 1);

  await rejectsWith(404, t.svix.message.poller.poll(app.id, push.id), "an endpoint that is not a polling endpoint");
  await rejectsWith(404, t.svix.message.poller.poll(app.id, "ep_doesnotexist"), "an unknown endpoint");
  await rejectsWith(404, t.svix.message.poller.consumerPoll("app_doesnotexist", sink.id, "c"), "an unknown application");
  await rejectsWith(404, t.svix.message.poller.consumerSeek(app.id, push.id, "c", { after: new Date() }), "seek on a push endpoint");
  assert.deepEqual((await t.svix.messageAttempt.listByEndpoint(app.id, sink.id)).data, []);
}

runIfMain(import.meta);
