// Helpers shared by the interop scripts: assertions that end the process
// with a clear message, and a fetch that records the JSON-RPC traffic so the
// scripts can check what went over the wire, not only what the SDK made of it.

export class Check {
  constructor(name) {
    this.name = name;
    this.passed = 0;
  }

  ok(cond, what, got) {
    if (!cond) {
      const detail = got === undefined ? '' : `\n  got: ${typeof got === 'string' ? got : JSON.stringify(got)}`;
      throw new Error(`${this.name}: ${what}${detail}`);
    }
    this.passed++;
  }

  equal(got, want, what) {
    this.ok(JSON.stringify(got) === JSON.stringify(want), `${what}: want ${JSON.stringify(want)}`, got);
  }

  // rejects runs fn, which must throw; check inspects the error.
  async rejects(fn, what, check) {
    let v;
    try {
      v = await fn();
    } catch (e) {
      check(e);
      return;
    }
    this.ok(false, `${what}: expected an error`, v);
  }
}

// recordingFetch wraps fetch, keeping each JSON-RPC call's method and the
// error code of its JSON answer (when it has one), and adding headers.
export function recordingFetch(headers = {}) {
  const calls = [];
  const fn = async (input, init = {}) => {
    const h = new Headers(init.headers ?? {});
    for (const [k, v] of Object.entries(headers)) h.set(k, v);
    const call = { method: undefined, version: h.get('A2A-Version') ?? undefined, code: undefined };
    if (typeof init.body === 'string') {
      try {
        call.method = JSON.parse(init.body).method;
      } catch {
        // not JSON-RPC
      }
    }
    const resp = await fetch(input, { ...init, headers: h });
    if (call.method !== undefined) {
      calls.push(call);
      if ((resp.headers.get('content-type') ?? '').startsWith('application/json')) {
        try {
          call.code = (await resp.clone().json())?.error?.code;
        } catch {
          // not JSON
        }
      }
    }
    return resp;
  };
  return { fetch: fn, calls };
}

// main runs the async body and turns a failure into exit status 1.
export function main(name, body) {
  body().then(
    (check) => {
      console.log(`ok ${name}: ${check.passed} checks passed`);
    },
    (err) => {
      console.error(`FAIL ${err?.stack ?? err}`);
      process.exit(1);
    },
  );
}

// args parses --key value and --flag arguments.
export function args(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    if (!argv[i].startsWith('--')) throw new Error(`unexpected argument ${argv[i]}`);
    const key = argv[i].slice(2);
    if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) out[key] = argv[++i];
    else out[key] = true;
  }
  return out;
}
