// Runs the @a2a-js/sdk 1.3.0 client (v1.0 protocol, or its v0.3 compat
// transport) against an ossa A2A server and asserts what it gets back.
//
//   node client-v1.mjs --base URL --mode v1|v03 [--token KEY] [--capability NAME] [--platform]
//
// --base is where /.well-known/agent-card.json is. The server is expected
// to echo its input: a data part as that data, a text part as that text
// (--platform: as {"text": …}, the platform's input for text messages).
// The streamed input mentions "streamed", which the Go test's echo agent
// answers after a delay, so that the stream carries every kind of event.
// --token sends "Authorization: Bearer KEY" through a custom fetch, and
// first checks that a call without it is refused.
import { ClientFactory, JsonRpcTransportFactory } from 'a2a-v1/client';
import { Role, TaskState } from 'a2a-v1';
import { randomUUID } from 'node:crypto';
import { Check, args, main, recordingFetch } from './lib.mjs';

const opt = args();
const mode = opt.mode ?? 'v1';
if (!opt.base || !['v1', 'v03'].includes(mode)) {
  console.error('usage: node client-v1.mjs --base URL --mode v1|v03 [--token KEY] [--capability NAME] [--platform]');
  process.exit(2);
}
const legacy = mode === 'v03';
const c = new Check(`client-v1.3.0 (${legacy ? 'v0.3 compat' : 'v1.0'}) -> ${opt.base}`);

// Message IDs are unique per run: the platform takes a messageId as the
// idempotency key of the task it creates.
const run = randomUUID().slice(0, 8);
const id = (s) => `${run}-${s}`;
const msg = (messageId, parts) => ({
  messageId, role: Role.ROLE_USER, parts, contextId: '', taskId: '',
  metadata: opt.capability ? { capability: opt.capability } : undefined, extensions: [], referenceTaskIds: [],
});
const text = (s) => ({ content: { $case: 'text', value: s }, metadata: undefined, filename: '', mediaType: '' });
const data = (v) => ({ content: { $case: 'data', value: v }, metadata: undefined, filename: '', mediaType: '' });
const echoOfText = (s) => (opt.platform ? { $case: 'data', value: { text: s } } : { $case: 'text', value: s });
const stateName = (s) => TaskState[s] ?? String(s);

async function newClient(card, headers) {
  const rec = recordingFetch(headers);
  const factory = new ClientFactory({
    transports: [new JsonRpcTransportFactory({ fetchImpl: rec.fetch, legacyCompat: { enabled: legacy } })],
  });
  return { client: await factory.createFromAgentCard(card), calls: rec.calls };
}

main(c.name, async () => {
  const resp = await fetch(opt.base + '/.well-known/agent-card.json');
  c.equal(resp.status, 200, 'agent card status');
  const card = await resp.json();
  const want = legacy ? '0.3' : '1.0';
  const jsonrpc = (card.supportedInterfaces ?? []).filter((i) => i.protocolBinding === 'JSONRPC');
  c.ok(jsonrpc.some((i) => i.protocolVersion === '1.0'), 'card declares a JSONRPC 1.0 interface', card.supportedInterfaces);
  let ifaces = jsonrpc.filter((i) => i.protocolVersion === want);
  if (ifaces.length === 0 && legacy && opt.platform) {
    // The platform's card declares 1.0 only; its endpoint answers v0.3 too
    // (docs/agent-protocol.md), so point the compat transport at it.
    ifaces = jsonrpc.map((i) => ({ ...i, protocolVersion: '0.3' }));
  }
  c.ok(ifaces.length > 0, `card declares a JSONRPC ${want} interface`, card.supportedInterfaces);
  card.supportedInterfaces = ifaces; // make the factory pick that version

  const auth = opt.token ? { Authorization: `Bearer ${opt.token}` } : {};
  if (opt.token) {
    const anon = await newClient(structuredClone(card), {});
    await c.rejects(() => anon.client.getTask({ tenant: '', id: 'x', historyLength: undefined }), 'call without a key', (e) =>
      c.ok(/401|unauthori[sz]ed/i.test(String(e?.message)), 'call without a key is refused with 401', String(e)));
  }
  const { client, calls } = await newClient(card, auth);

  // SendMessage with a data part: the task comes back completed, echoing it.
  const sent = await client.sendMessage({ tenant: '', message: msg(id('m1'), [data({ a: 1, s: 'x' })]), configuration: undefined, metadata: undefined });
  const task = sent.payload?.$case === 'task' ? sent.payload.value : sent;
  c.ok(typeof task?.id === 'string' && task.id !== '', 'send(data) returns a task with an id', sent);
  c.equal(stateName(task.status?.state), 'TASK_STATE_COMPLETED', 'send(data) state');
  c.ok(task.contextId !== '', 'send(data) task has a contextId', task);
  c.equal(task.artifacts?.[0]?.parts?.[0]?.content, { $case: 'data', value: { a: 1, s: 'x' } }, 'send(data) output artifact');

  // SendMessage with a text part.
  const sentText = await client.sendMessage({ tenant: '', message: msg(id('m1t'), [text('hello')]), configuration: undefined, metadata: undefined });
  const taskText = sentText.payload?.$case === 'task' ? sentText.payload.value : sentText;
  c.equal(stateName(taskText.status?.state), 'TASK_STATE_COMPLETED', 'send(text) state');
  c.equal(taskText.artifacts?.[0]?.parts?.[0]?.content, echoOfText('hello'), 'send(text) output artifact');

  // GetTask: whole history, then none.
  const got = await client.getTask({ tenant: '', id: task.id, historyLength: undefined });
  c.equal(got.id, task.id, 'get id');
  c.equal(stateName(got.status?.state), 'TASK_STATE_COMPLETED', 'get state');
  c.ok(got.history?.length >= 1, 'get returns the history', got.history);
  if (!opt.platform) {
    // The platform rebuilds the history from the task's stored input, under
    // a messageId of its own ("{taskId}-input").
    c.equal(got.history[0].messageId, id('m1'), 'get history[0].messageId');
  }
  c.equal(got.history[0].parts?.[0]?.content, { $case: 'data', value: { a: 1, s: 'x' } }, 'get history[0] part');
  const trimmed = await client.getTask({ tenant: '', id: task.id, historyLength: 0 });
  c.equal(trimmed.history?.length ?? 0, 0, 'get historyLength=0 history length');

  // SendStreamingMessage: task first, the echo as an artifact, a terminal state last.
  const events = [];
  for await (const ev of client.sendMessageStream({ tenant: '', message: msg(id('m2'), [text('streamed')]), configuration: undefined, metadata: undefined })) {
    events.push(ev.payload);
  }
  c.ok(events.length >= 2, 'stream has events', events);
  c.equal(events[0]?.$case, 'task', 'first stream event');
  const art = events.find((e) => e.$case === 'artifactUpdate');
  c.equal(art?.value?.artifact?.parts?.[0]?.content, echoOfText('streamed'), 'streamed artifact');
  const last = events[events.length - 1];
  c.equal(last?.$case, 'statusUpdate', 'last stream event');
  c.equal(stateName(last.value.status?.state), 'TASK_STATE_COMPLETED', 'last stream event state');

  // CancelTask of a finished task: TaskNotCancelable (-32002).
  await c.rejects(() => client.cancelTask({ tenant: '', id: task.id, metadata: undefined }), 'cancel of a finished task', (e) => {
    c.ok(/TaskNotCancelable/.test(e?.constructor?.name), 'cancel of a finished task throws TaskNotCancelable', `${e?.constructor?.name}: ${e?.message}`);
    c.equal(calls[calls.length - 1].code, -32002, 'cancel of a finished task: JSON-RPC code');
  });
  // GetTask of an unknown task: TaskNotFound (-32001).
  await c.rejects(() => client.getTask({ tenant: '', id: 'no-such-task', historyLength: undefined }), 'get of an unknown task', (e) => {
    c.ok(/TaskNotFound/.test(e?.constructor?.name), 'get of an unknown task throws TaskNotFound', `${e?.constructor?.name}: ${e?.message}`);
    c.equal(calls[calls.length - 1].code, -32001, 'get of an unknown task: JSON-RPC code');
  });

  // The wire: the dialect asked for, and nothing else.
  const methods = legacy
    ? ['message/send', 'message/send', 'tasks/get', 'tasks/get', 'message/stream', 'tasks/cancel', 'tasks/get']
    : ['SendMessage', 'SendMessage', 'GetTask', 'GetTask', 'SendStreamingMessage', 'CancelTask', 'GetTask'];
  c.equal(calls.map((x) => x.method), methods, 'JSON-RPC methods on the wire');
  if (!legacy) c.ok(calls.every((x) => x.version === '1.0'), 'every v1.0 call carries A2A-Version: 1.0', calls);
  return c;
});
