// Runs the @a2a-js/sdk 0.3.14 client (v0.3 protocol) against an ossa A2A
// server and asserts what it gets back.
//
//   node client-v03.mjs --base URL [--token KEY] [--capability NAME] [--platform]
//
// Options as for client-v1.mjs.
import { A2AClient } from 'a2a-v03/client';
import { randomUUID } from 'node:crypto';
import { Check, args, main, recordingFetch } from './lib.mjs';

const opt = args();
if (!opt.base) {
  console.error('usage: node client-v03.mjs --base URL [--token KEY] [--capability NAME] [--platform]');
  process.exit(2);
}
const c = new Check(`client-v0.3.14 -> ${opt.base}`);
const metadata = opt.capability ? { capability: opt.capability } : undefined;
// Message IDs are unique per run: the platform takes a messageId as the
// idempotency key of the task it creates.
const run = randomUUID().slice(0, 8);
const id = (s) => `${run}-${s}`;
const msg = (messageId, parts) => ({ kind: 'message', messageId, role: 'user', parts, metadata });
const echoOfText = (s) => (opt.platform ? { kind: 'data', data: { text: s } } : { kind: 'text', text: s });
const part = (p) => (p?.kind === 'text' ? { kind: 'text', text: p.text } : { kind: p?.kind, data: p?.data });

// result unwraps a JSON-RPC response (0.3 clients return errors as values).
function result(resp, what) {
  c.ok(resp && !resp.error, `${what} succeeds`, resp);
  return resp.result;
}

// rpcError expects a JSON-RPC error, returned or thrown.
async function rpcError(fn, what, code) {
  let err;
  try {
    const resp = await fn();
    err = resp?.error;
    c.ok(err, `${what}: expected a JSON-RPC error`, resp);
  } catch (e) {
    err = e;
  }
  const got = err?.code ?? err?.errorCode ?? /-?\d{5}/.exec(String(err?.message))?.[0];
  c.equal(Number(got), code, `${what}: JSON-RPC code`);
}

main(c.name, async () => {
  const headers = opt.token ? { Authorization: `Bearer ${opt.token}` } : {};
  const cardURL = opt.base + '/.well-known/agent-card.json';
  if (opt.token) {
    const anon = await A2AClient.fromCardUrl(cardURL, { fetchImpl: recordingFetch({}).fetch });
    let refused;
    try {
      const resp = await anon.getTask({ id: 'x' });
      refused = JSON.stringify(resp);
    } catch (e) {
      refused = String(e?.message);
    }
    c.ok(/401|unauthori[sz]ed/i.test(refused), 'call without a key is refused with 401', refused);
  }
  const rec = recordingFetch(headers);
  const client = await A2AClient.fromCardUrl(cardURL, { fetchImpl: rec.fetch });

  // message/send with a text part, then with a data part.
  const task = result(await client.sendMessage({ message: msg(id('m1'), [{ kind: 'text', text: 'hi from 0.3' }]) }), 'send(text)');
  c.equal(task?.kind, 'task', 'send(text) result kind');
  c.ok(typeof task.id === 'string' && task.id !== '', 'send(text) task has an id', task);
  c.equal(task.status?.state, 'completed', 'send(text) state');
  c.equal(part(task.artifacts?.[0]?.parts?.[0]), echoOfText('hi from 0.3'), 'send(text) output artifact');
  const taskData = result(await client.sendMessage({ message: msg(id('m1d'), [{ kind: 'data', data: { x: 1, y: [true] } }]) }), 'send(data)');
  c.equal(taskData.status?.state, 'completed', 'send(data) state');
  c.equal(part(taskData.artifacts?.[0]?.parts?.[0]), { kind: 'data', data: { x: 1, y: [true] } }, 'send(data) output artifact');

  // message/stream: the task first, the echo, a final completed status.
  const events = [];
  for await (const ev of client.sendMessageStream({ message: msg(id('m2'), [{ kind: 'data', data: { x: 2, streamed: true } }]) })) {
    events.push(ev);
  }
  c.ok(events.length >= 2, 'stream has events', events);
  c.equal(events[0]?.kind, 'task', 'first stream event kind');
  const art = events.find((e) => e.kind === 'artifact-update');
  c.equal(part(art?.artifact?.parts?.[0]), { kind: 'data', data: { x: 2, streamed: true } }, 'streamed artifact');
  const last = events[events.length - 1];
  c.equal(last?.kind, 'status-update', 'last stream event kind');
  c.equal(last.status?.state, 'completed', 'last stream event state');
  c.equal(last.final, true, 'last stream event final');
  c.ok(events.slice(0, -1).every((e) => e.final !== true), 'only the last event is final', events);

  // tasks/get with and without history.
  const got = result(await client.getTask({ id: task.id }), 'get');
  c.equal(got.id, task.id, 'get id');
  c.equal(got.status?.state, 'completed', 'get state');
  c.ok(got.history?.length >= 1, 'get returns the history', got.history);
  if (!opt.platform) {
    // The platform rebuilds the history from the task's stored input, under
    // a messageId of its own ("{taskId}-input").
    c.equal(got.history[0].messageId, id('m1'), 'get history[0].messageId');
  }
  c.equal(part(got.history[0].parts?.[0]), { kind: 'text', text: 'hi from 0.3' }, 'get history[0] part');
  const one = result(await client.getTask({ id: task.id, historyLength: 1 }), 'get historyLength=1');
  c.ok((one.history?.length ?? 0) <= 1, 'get historyLength=1 trims the history', one.history);

  // tasks/cancel of a finished task, tasks/get of an unknown one.
  await rpcError(() => client.cancelTask({ id: task.id }), 'cancel of a finished task', -32002);
  await rpcError(() => client.getTask({ id: 'no-such-task' }), 'get of an unknown task', -32001);

  c.equal(rec.calls.map((x) => x.method),
    ['message/send', 'message/send', 'message/stream', 'tasks/get', 'tasks/get', 'tasks/cancel', 'tasks/get'], 'JSON-RPC methods on the wire');
  return c;
});
