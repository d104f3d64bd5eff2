// A client for test/start-training.test.ts, run as its own process so that its timing
// does not depend on the host's event loop: sends `count` GET requests to `url`, one
// after the other, `gapMs` apart, and prints one JSON line: each request's status, body
// and latency (ms), or its error.
const [url, count, gapMs] = [process.argv[2], Number(process.argv[3]), Number(process.argv[4])];
const results = [];
for (let i = 0; i < count; i++) {
  const t0 = performance.now();
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(30_000) });
    results.push({ status: res.status, body: await res.text(), ms: performance.now() - t0 });
  } catch (e) {
    results.push({ error: String(e), ms: performance.now() - t0 });
  }
  await new Promise((r) => setTimeout(r, gapMs));
}
console.log(JSON.stringify(results));
