// An A2A v0.3 echo agent on the @a2a-js/sdk 0.3.14 server, for ossa's
// dispatcher to call (interop_test.go). Same arguments, behaviour and log
// lines as server-v1.mjs.
import express from 'express';
import { DefaultRequestHandler, InMemoryTaskStore } from 'a2a-v03/server';
import { jsonRpcHandler, agentCardHandler, UserBuilder } from 'a2a-v03/server/express';
import { args } from './lib.mjs';

const opt = args();
const streaming = opt.stream === true;
const cancels = new Map();
const st = (state, text) => ({
  state, timestamp: new Date().toISOString(),
  message: text ? { kind: 'message', messageId: 's' + Math.random(), role: 'agent', parts: [{ kind: 'text', text }] } : undefined,
});
const executor = {
  async execute(ctx, bus) {
    const m = ctx.userMessage;
    console.log('execute', ctx.taskId, JSON.stringify(m));
    bus.publish({ kind: 'task', id: ctx.taskId, contextId: ctx.contextId, status: st('submitted'), history: [m] });
    bus.publish({ kind: 'status-update', taskId: ctx.taskId, contextId: ctx.contextId, status: st('working', 'on it'), final: false });
    const p = m.parts[0];
    if (p.kind === 'text' && p.text === 'slow') {
      await new Promise((resolve) => cancels.set(ctx.taskId, resolve));
      console.log('canceled', ctx.taskId);
      return;
    }
    bus.publish({ kind: 'artifact-update', taskId: ctx.taskId, contextId: ctx.contextId, artifact: { artifactId: 'a1', name: 'output', parts: [p] }, lastChunk: true });
    bus.publish({ kind: 'status-update', taskId: ctx.taskId, contextId: ctx.contextId, status: st('completed'), final: true });
    bus.finished();
  },
  async cancelTask(taskId, bus) {
    console.log('cancelTask', taskId);
    bus.publish({ kind: 'status-update', taskId, contextId: '', status: st('canceled'), final: true });
    bus.finished();
    cancels.get(taskId)?.();
  },
};

const app = express();
const server = app.listen(Number(opt.port ?? 0), '127.0.0.1', () => {
  const port = server.address().port;
  const card = {
    name: 'js-echo-v03', description: 'echo on @a2a-js/sdk 0.3.14', protocolVersion: '0.3.0', version: '1.0.0',
    url: `http://127.0.0.1:${port}/a2a`, preferredTransport: 'JSONRPC',
    skills: [{ id: 'echo', name: 'echo', description: 'echo', tags: [] }], capabilities: { streaming, pushNotifications: false },
    defaultInputModes: ['text'], defaultOutputModes: ['text'],
  };
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
  app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: handler }));
  app.use('/a2a', jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
  console.log('listening', port);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
