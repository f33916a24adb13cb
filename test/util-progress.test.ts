import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createProgress } from "../src/util/progress.js";

function sink(): { stream: Writable; text: () => string } {
  let buf = "";
  const stream = new Writable({
    write(chunk, _enc, cb) {
      buf += String(chunk);
      cb();
    },
  });
  return { stream, text: () => buf };
}

test("non-TTY progress prints periodic plain lines and a final line", () => {
  const out = sink();
  let t = 0;
  const p = createProgress({
    label: "mix",
    total: 100,
    stream: out.stream,
    intervalSeconds: 1,
    now: () => t,
  });
  t = 500;
  p.tick(10);
  assert.equal(out.text(), "");
  t = 1000;
  p.tick(10, { pair: "a,b" });
  assert.equal(out.text(), "mix: 20/100 (20%) 20.0/s, ETA 4s | pair=a,b\n");
  t = 2000;
  p.update(100);
  p.stop();
  p.stop();
  p.tick(5);
  const lines = out.text().trim().split("\n");
  assert.equal(lines.length, 3);
  assert.equal(lines[2], "mix: 100/100 (100%) 50.0/s | pair=a,b");
});

test("resumed progress counts the rate from the start value", () => {
  const out = sink();
  let t = 0;
  const p = createProgress({ label: "x", total: 10, start: 6, stream: out.stream, now: () => t });
  t = 2000;
  p.tick(2);
  p.stop();
  assert.equal(out.text(), "x: 8/10 (80%) 1.0/s, ETA 2s\n");
});

test("quiet progress writes nothing", () => {
  const out = sink();
  const p = createProgress({ label: "q", total: 3, quiet: true, stream: out.stream });
  p.tick();
  p.update(3);
  p.stop();
  assert.equal(out.text(), "");
});
