// An A2A v1.0 echo agent on the @a2a-js/sdk 1.3.0 server, for ossa's
// dispatcher to call (interop_test.go).
//
//   node server-v1.mjs [--port N] [--stream]
//
// It echoes the message's first part as the artifact "output". A text part
// "slow" is not answered until the task is canceled. It logs to stdout, one
// event a line, which the Go test reads:
//   listening PORT | execute TASK_ID MESSAGE_JSON | cancelTask TASK_ID | canceled TASK_ID
// It exits when its stdin closes, so it never outlives the test.
import express from 'express';
import { AgentEvent, DefaultRequestHandler, InMemoryTaskStore } from 'a2a-v1/server';
import { jsonRpcHandler, agentCardHandler, UserBuilder } from 'a2a-v1/server/express';
import { Role, TaskState } from 'a2a-v1';
import { args } from './lib.mjs';

const opt = args();
const streaming = opt.stream === true;
const cancels = new Map();
const status = (state, text) => ({
  state, timestamp: new Date(),
  message: text ? {
    messageId: 's' + Math.random(), role: Role.ROLE_AGENT, contextId: '', taskId: '', metadata: undefined, extensions: [], referenceTaskIds: [],
    parts: [{ content: { $case: 'text', value: text }, metadata: undefined, filename: '', mediaType: '' }],
  } : undefined,
});
const executor = {
  async execute(ctx, bus) {
    const m = ctx.userMessage;
    console.log('execute', ctx.taskId, JSON.stringify(m));
    bus.publish(AgentEvent.task({ id: ctx.taskId, contextId: ctx.contextId, status: status(TaskState.TASK_STATE_SUBMITTED), artifacts: [], history: [m], metadata: undefined }));
    bus.publish(AgentEvent.statusUpdate({ taskId: ctx.taskId, contextId: ctx.contextId, status: status(TaskState.TASK_STATE_WORKING, 'on it'), metadata: undefined }));
    const part = m.parts[0].content;
    if (part.$case === 'text' && part.value === 'slow') {
      await new Promise((resolve) => cancels.set(ctx.taskId, resolve));
      console.log('canceled', ctx.taskId);
      return;
    }
    bus.publish(AgentEvent.artifactUpdate({
      taskId: ctx.taskId, contextId: ctx.contextId, append: false, lastChunk: true, metadata: undefined,
      artifact: { artifactId: 'a1', name: 'output', description: '', parts: [m.parts[0]], metadata: undefined, extensions: [] },
    }));
    bus.publish(AgentEvent.statusUpdate({ taskId: ctx.taskId, contextId: ctx.contextId, status: status(TaskState.TASK_STATE_COMPLETED), metadata: undefined }));
    bus.finished();
  },
  async cancelTask(taskId, bus) {
    console.log('cancelTask', taskId);
    bus.publish(AgentEvent.statusUpdate({ taskId, contextId: '', status: status(TaskState.TASK_STATE_CANCELED), metadata: undefined }));
    bus.finished();
    cancels.get(taskId)?.();
  },
};

const app = express();
const server = app.listen(Number(opt.port ?? 0), '127.0.0.1', () => {
  const port = server.address().port;
  const card = {
    name: 'js-echo-v1', description: 'echo on @a2a-js/sdk 1.3.0', version: '1.0.0',
    supportedInterfaces: [{ url: `http://127.0.0.1:${port}/a2a`, protocolBinding: 'JSONRPC', protocolVersion: '1.0', tenant: '' }],
    capabilities: { streaming, pushNotifications: false, extensions: [] },
    securitySchemes: {}, securityRequirements: [], defaultInputModes: ['text/plain'], defaultOutputModes: ['text/plain'],
    skills: [{ id: 'echo', name: 'echo', description: 'echo', tags: [], examples: [], inputModes: [], outputModes: [], securityRequirements: [] }],
    signatures: [],
  };
  const handler = new DefaultRequestHandler(card, new InMemoryTaskStore(), executor);
  app.use('/.well-known/agent-card.json', agentCardHandler({ agentCardProvider: handler }));
  app.use('/a2a', jsonRpcHandler({ requestHandler: handler, userBuilder: UserBuilder.noAuthentication }));
  console.log('listening', port);
});
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
