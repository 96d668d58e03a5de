// npm's toxiproxy-node-client against `tcpmortem proxy`: the calls of its own test suite
// (Toxiproxy, Proxy, Toxic and ToxicTypes specs) through node's test runner. Run by
// crates/cli/tests/proxy_clients.rs with TCPMORTEM_API=http://HOST:PORT, NODE_PATH set to
// the folder scripts/test installs the client into, and two free ports.
const test = require("node:test");
const assert = require("node:assert");
const { Toxiproxy } = require("toxiproxy-node-client");

const url = process.env.TCPMORTEM_API;
const [portA, portB] = process.env.TCPMORTEM_FREE_PORTS.split(",");
const toxiproxy = new Toxiproxy(url);

async function removeAll() {
  const all = await toxiproxy.getAll();
  for (const name of Object.keys(all)) await all[name].remove();
}

async function createProxy(name) {
  return toxiproxy.createProxy({ listen: "localhost:0", name, upstream: "localhost:6379" });
}

test("creates, gets and removes a proxy", async () => {
  await removeAll();
  const created = await createProxy("get-test");
  assert.match(created.listen, /^127\.0\.0\.1:\d+$/);
  const fetched = await toxiproxy.get(created.name);
  assert.strictEqual(fetched.name, created.name);
  assert.strictEqual(fetched.enabled, true);
  await created.remove();
  await assert.rejects(toxiproxy.get("get-test"), /status code 404/);
});

test("gets the version and resets", async () => {
  const v = await toxiproxy.getVersion();
  assert.match(JSON.parse(v).version, /^2\.\d+\.\d+/);
  await toxiproxy.reset();
});

test("populates and gets all proxies", async () => {
  await removeAll();
  const one = { listen: `127.0.0.1:${portA}`, name: "get-all-test1", upstream: "localhost:6379" };
  const two = { listen: `127.0.0.1:${portB}`, name: "get-all-test2", upstream: "localhost:12345" };
  const populated = await toxiproxy.populate([one, two]);
  assert.deepStrictEqual(Object.keys(populated).sort(), ["get-all-test1", "get-all-test2"]);
  const proxies = await toxiproxy.getAll();
  assert.strictEqual(Object.keys(proxies).length, 2);
  for (const p of [one, two]) {
    assert.strictEqual(proxies[p.name].listen, p.listen);
    assert.strictEqual(proxies[p.name].upstream, p.upstream);
  }
  // The same list again keeps them as they are.
  await toxiproxy.populate([one, two]);
  assert.strictEqual(Object.keys(await toxiproxy.getAll()).length, 2);
  await removeAll();
});

test("updates a proxy: disable and enable", async () => {
  const proxy = await createProxy("update-test");
  const off = await proxy.update({ enabled: false });
  assert.strictEqual(off.enabled, false);
  const on = await off.update({ enabled: true });
  assert.strictEqual(on.enabled, true);
  assert.strictEqual(on.listen, proxy.listen);
  await proxy.remove();
});

const types = {
  latency: { latency: 1000, jitter: 100 },
  bandwidth: { rate: 1000 },
  slow_close: { delay: 1000 },
  timeout: { timeout: 5000 },
  slicer: { average_size: 1000, delay: 1000, size_variation: 1000 },
  reset_peer: { timeout: 1000 },
  limit_data: { bytes: 42 },
};

for (const [type, attributes] of Object.entries(types)) {
  test(`adds a ${type} toxic`, async () => {
    const proxy = await createProxy(`add-${type}-toxic-test`);
    const toxic = await proxy.addToxic({ type, attributes });
    assert.strictEqual(toxic.type, type);
    assert.strictEqual(toxic.stream, "downstream");
    assert.strictEqual(toxic.name, `${type}_downstream`);
    assert.strictEqual(toxic.toxicity, 1);
    assert.deepStrictEqual(toxic.attributes, attributes);
    await proxy.remove();
  });
}

test("gets, updates and removes a toxic", async () => {
  const proxy = await createProxy("toxic-test");
  await proxy.addToxic({ name: "lat", type: "latency", stream: "upstream", toxicity: 0.5,
    attributes: { latency: 10 } });
  const got = await proxy.getToxic("lat");
  assert.strictEqual(got.stream, "upstream");
  assert.strictEqual(got.toxicity, 0.5);
  const updated = await got.update({ attributes: { jitter: 5 } });
  assert.deepStrictEqual(updated.attributes, { latency: 10, jitter: 5 });
  assert.strictEqual(updated.toxicity, 0.5);
  await updated.remove();
  await assert.rejects(proxy.getToxic("lat"), /status code 404/);
  await proxy.remove();
});
