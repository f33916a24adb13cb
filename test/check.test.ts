import assert from "node:assert/strict";
import { cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { type CheckReport, checkDataset } from "../src/data/dataset/check.js";
import { buildMixtures } from "../src/data/mix/mix.js";
import { readTrainData } from "../src/data/dataset/dataset.js";
import { loadAudio } from "../src/audio/index.js";
import { makeRawData, tempDir, tone, writeTestWav } from "./data-helpers.js";

function codes(report: CheckReport, severity: "error" | "warning"): string[] {
  return report.issues.filter((i) => i.severity === severity).map((i) => i.code);
}
function message(report: CheckReport, code: string): string {
  const issue = report.issues.find((i) => i.code === code);
  assert.ok(issue !== undefined, `no ${code} issue in ${JSON.stringify(report.issues.map((i) => i.code))}`);
  return issue.message;
}

test("check raw_data: statistics and every warning / error", () => {
  const root = tempDir();
  const raw = makeRawData(join(root, "raw"), ["a", "b"], 2, 16000);
  writeTestWav(join(raw, "a", "long.wav"), tone(2.5, 16000, 220), 16000);
  writeTestWav(join(raw, "a", "silent.wav"), new Float32Array(16000), 16000);
  const clipped = tone(2, 16000, 100, 2);
  writeTestWav(join(raw, "b", "clipped.wav"), clipped, 16000);
  writeTestWav(join(raw, "b", "rate.wav"), tone(2, 22050, 220), 22050);
  writeTestWav(join(raw, "b", "stereo.wav"), [tone(2, 16000, 220), tone(2, 16000, 330)], 16000);
  writeFileSync(join(raw, "b", "broken.wav"), "RIFF\x10\x00\x00\x00WAVEnope");
  writeFileSync(join(raw, "notes.txt"), "ignored");
  const report = checkDataset(raw);
  assert.equal(report.dataset.kind, "raw_data");
  if (report.dataset.kind !== "raw_data") return;
  const a = report.dataset.classes.find((c) => c.name === "a")!;
  assert.equal(a.clips, 4);
  assert.deepEqual(a.sampleRates, { "16000": 4 });
  assert.equal(a.silent, 1);
  assert.ok(Math.abs(a.duration.max - 2.5) < 1e-9 && Math.abs(a.duration.min - 0.3) < 1e-9);
  const b = report.dataset.classes.find((c) => c.name === "b")!;
  assert.deepEqual(b.sampleRates, { "16000": 4, "22050": 1 });
  assert.deepEqual(b.channels, { "1": 4, "2": 1 });
  assert.equal(b.clipped, 1);
  assert.equal(b.unreadable, 1);
  assert.equal(report.ok, false);
  assert.deepEqual(codes(report, "error"), ["unreadable"]);
  assert.match(message(report, "unreadable"), /raw\/b\/broken\.wav: cannot be decoded \(/);
  assert.match(message(report, "silent"), /a\/silent\.wav: silent \(peak 0\.0e\+0 < 0\.0001\)/);
  assert.match(message(report, "clipped"), /b\/clipped\.wav: clipped \(3\+ consecutive samples/);
  assert.match(
    message(report, "sample-rate"),
    /b\/rate\.wav: 22050 Hz, expected 16000 Hz \(mix will resample it\)/,
  );
  assert.match(message(report, "channels"), /b\/stereo\.wav: 2 channels, expected mono/);
  assert.match(message(report, "short"), /a\/clip0\.wav: 0\.300 s, shorter than 2 s/);
  assert.match(message(report, "few-clips"), /raw\/a: 4 clips; at least 2000 per class are recommended/);
  assert.match(message(report, "few-classes"), /2 classes \(a, b\); at least 5 are recommended/);
});

test("check raw_data: too few classes, empty class, missing folder", () => {
  const root = tempDir();
  const raw = makeRawData(join(root, "raw"), ["a"], 1);
  mkdirSync(join(raw, "empty"));
  let report = checkDataset(raw, { sampleRate: 8000, seconds: 0.1 });
  assert.match(message(report, "empty-class"), /raw\/empty: no \.wav files/);
  rmSync(join(raw, "empty"), { recursive: true });
  report = checkDataset(raw, { sampleRate: 8000, seconds: 0.1 });
  assert.deepEqual(codes(report, "error"), ["too-few-classes"]);
  assert.match(message(report, "too-few-classes"), /1 class folder\(s\) \(a\); mixing needs at least 2/);
  assert.throws(
    () => checkDataset(join(root, "nope")),
    /nope: folder not found; expected a raw_data or train_data folder/,
  );
});

async function makeTrainData(): Promise<{ root: string; out: string; labels: string }> {
  const root = tempDir();
  const raw = makeRawData(join(root, "raw"), ["a", "b", "c"], 3);
  const out = join(root, "out");
  await buildMixtures(
    {
      dataDir: raw,
      outputDir: out,
      sampleRate: 8000,
      seconds: 0.25,
      samplesPerCombination: 3,
      testFraction: 0.34,
    },
    { jobs: 1 },
  );
  return { root, out, labels: join(out, "labels.txt") };
}

test("check train_data: a fresh mix output is clean", async () => {
  const { out } = await makeTrainData();
  const report = checkDataset(out, { sampleRate: 8000 });
  assert.deepEqual(report.issues, []);
  assert.equal(report.ok, true);
  if (report.dataset.kind !== "train_data") throw new Error("kind");
  assert.equal(report.dataset.lines, 9);
  assert.equal(report.dataset.sources, 2);
  assert.equal(report.dataset.decodedFiles, 27);
  assert.deepEqual(report.dataset.labelCounts, { a: 6, b: 6, c: 6 });
  assert.deepEqual(report.dataset.knownClasses, ["a", "b", "c"]);
  assert.deepEqual(report.dataset.split, { train: 6, test: 3 });
});

test("check train_data: every error case names the line and the problem", async () => {
  const { out, labels } = await makeTrainData();
  const original = readFileSync(labels, "utf8");
  const lines = original.trimEnd().split("\n");
  const line2 = lines[1]!;
  // Wrong column count.
  writeFileSync(labels, [lines[0], line2.split(" ").slice(0, 4).join(" "), ...lines.slice(2)].join("\n"));
  let report = checkDataset(out, { sampleRate: 8000 });
  assert.equal(
    message(report, "bad-line"),
    `${labels}:2: expected 5 fields (mixed, 2 sources, 2 labels), got 4: ${line2.split(" ").slice(0, 4).join(" ")}`,
  );
  // A line with K = 3 among K = 2 lines.
  const fields = line2.split(" ");
  const k3 = [fields[0], fields[1], fields[2], fields[2], fields[3], fields[4], fields[4]].join(" ");
  writeFileSync(labels, [lines[0], k3, ...lines.slice(2)].join("\n"));
  report = checkDataset(out, { sampleRate: 8000 });
  assert.equal(
    message(report, "bad-line"),
    `${labels}:2: expected 5 fields (mixed, 2 sources, 2 labels) like line 1, got 7: ${k3}`,
  );
  // Missing file.
  writeFileSync(labels, original);
  const savedSource = readFileSync(join(out, "sample_3", "source1.wav"));
  rmSync(join(out, "sample_3", "source1.wav"));
  report = checkDataset(out, { sampleRate: 8000 });
  assert.equal(
    message(report, "missing-file"),
    `${labels}:4: ${join(out, "sample_3", "source1.wav")} does not exist`,
  );
  // Undecodable file.
  writeFileSync(join(out, "sample_3", "source1.wav"), "not a wav");
  report = checkDataset(out, { sampleRate: 8000 });
  assert.match(
    message(report, "unreadable"),
    new RegExp(`labels\\.txt:4: .*sample_3/source1\\.wav cannot be decoded`),
  );
  // Unknown label.
  writeFileSync(join(out, "sample_3", "source1.wav"), savedSource);
  writeFileSync(labels, original.replace(/ a b\n/, " a zither\n"));
  report = checkDataset(out, { sampleRate: 8000 });
  assert.match(
    message(report, "unknown-label"),
    /label "zither" is not a class folder of the raw_data in mix\.json \(a, b, c\)/,
  );
  // Length mismatch and not-a-sum.
  writeFileSync(labels, original);
  writeFileSync(join(out, "sample_5", "source2.wav"), readFileSync(join(out, "sample_5", "source1.wav")));
  report = checkDataset(out, { sampleRate: 8000 });
  assert.match(message(report, "not-a-sum"), /labels\.txt:6: mixed\.wav differs from the sum of its sources/);
  writeTestWav(join(out, "sample_5", "source2.wav"), tone(0.1, 8000, 300), 8000);
  report = checkDataset(out, { sampleRate: 8000 });
  assert.match(
    message(report, "length-mismatch"),
    /labels\.txt:6: files differ in length \(2000, 2000, 800 samples\)/,
  );
  // split.json problems.
  const split = JSON.parse(readFileSync(join(out, "split.json"), "utf8"));
  writeFileSync(join(out, "split.json"), JSON.stringify({ ...split, test: [...split.test, split.train[0]] }));
  report = checkDataset(out, { sampleRate: 8000 });
  assert.match(message(report, "split-overlap"), /split\.json: 1 samples are in both train and test/);
  writeFileSync(join(out, "split.json"), JSON.stringify({ ...split, train: split.train.slice(1) }));
  report = checkDataset(out, { sampleRate: 8000 });
  assert.match(message(report, "split-missing"), /1 samples of labels\.txt are in neither train nor test/);
  // No labels.txt at all.
  rmSync(labels);
  report = checkDataset(out, { sampleRate: 8000 });
  assert.match(message(report, "no-labels"), /labels\.txt: not found; a train_data folder needs labels\.txt/);
  // Empty labels.txt.
  writeFileSync(labels, "\n");
  report = checkDataset(out, { sampleRate: 8000 });
  assert.match(message(report, "empty-labels"), /has no lines; expected one line per sample/);
});

test("check train_data without mix.json (the seed's layout): relative paths and warnings", async () => {
  const { root, out } = await makeTrainData();
  rmSync(join(out, "mix.json"));
  rmSync(join(out, "split.json"));
  // The seed writes ./train_data/... relative to where it ran; check from elsewhere still finds them.
  const labels = readFileSync(join(out, "labels.txt"), "utf8").replaceAll(`${out}/`, "./train_data/");
  writeFileSync(join(out, "labels.txt"), labels.replace(/ a b\n/, " a a\n"));
  const report = checkDataset(out, { sampleRate: 8000 });
  if (report.dataset.kind !== "train_data") throw new Error("kind");
  assert.equal(report.dataset.knownClasses, null);
  assert.equal(report.ok, true);
  assert.match(
    message(report, "relocated-paths"),
    /27 paths \(e\.g\. \.\/train_data\/sample_0\/mixed\.wav\) do not exist relative to the working directory/,
  );
  assert.match(message(report, "repeated-label"), /the same label appears twice \(a a\)/);
  void root;
});

/** A 32-bit float WAV of `n` NaN samples (encodeWav refuses non-finite samples, as it should). */
function writeNanWav(path: string, n: number, rate = 16000): void {
  const header = Buffer.alloc(44);
  header.write("RIFF", 0);
  header.writeUInt32LE(36 + 4 * n, 4);
  header.write("WAVEfmt ", 8);
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(3, 20); // IEEE float
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(rate, 24);
  header.writeUInt32LE(rate * 4, 28);
  header.writeUInt16LE(4, 32);
  header.writeUInt16LE(32, 34);
  header.write("data", 36);
  header.writeUInt32LE(4 * n, 40);
  const body = Buffer.alloc(4 * n);
  for (let i = 0; i < n; i++) body.writeFloatLE(Number.NaN, 4 * i);
  mkdirSync(join(path, ".."), { recursive: true });
  writeFileSync(path, Buffer.concat([header, body]));
}

test("check finds what mix and train reject, in their words: all-NaN audio, a one-class dataset", async () => {
  const root = tempDir();
  const raw = makeRawData(join(root, "raw"), ["a", "b"], 2, 16000);
  const nanClip = join(raw, "a", "nan.wav");
  writeNanWav(nanClip, 8000);
  const rawReport = checkDataset(raw);
  const rawIssue = rawReport.issues.find((i) => i.file === nanClip);
  assert.equal(rawIssue?.severity, "error", "an all-NaN clip is not merely silent");
  assert.equal(rawIssue.code, "non-finite");
  await assert.rejects(buildMixtures({ data: raw, out: join(root, "mixed") }, { jobs: 1 }), {
    message: new RegExp(rawIssue.message.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")),
  });
  assert.equal(rawIssue.message, `${nanClip}: all 8000 samples are NaN`);

  // A train_data sample whose source is all NaN: train's loader refuses it with the same words.
  rmSync(nanClip);
  const data = join(root, "train_data");
  await buildMixtures({ data: raw, out: data, samplesPerCombination: 2, seconds: 0.5 }, { jobs: 1 });
  const source = join(data, "sample_1", "source2.wav");
  writeNanWav(source, 8000);
  const dataReport = checkDataset(data);
  assert.equal(
    message(dataReport, "non-finite"),
    `${join(data, "labels.txt")}:2: ${source}: all 8000 samples are NaN`,
  );
  await assert.rejects(loadAudio(source), { message: `${source}: all 8000 samples are NaN` });

  // One class (no mix.json to name others): train refuses it, and check says so in its words.
  rmSync(source);
  cpSync(join(data, "sample_0", "source2.wav"), source);
  rmSync(join(data, "mix.json"));
  rmSync(join(data, "split.json"));
  const labels = join(data, "labels.txt");
  const lines = readFileSync(labels, "utf8").trim().split("\n");
  writeFileSync(labels, `${lines.map((l) => l.replace(/ \S+ \S+$/, " a a")).join("\n")}\n`);
  let refused = "";
  assert.throws(
    () => readTrainData(data),
    (error: Error) => {
      refused = error.message;
      return true;
    },
  );
  const oneClass = checkDataset(data);
  assert.equal(message(oneClass, "too-few-classes"), refused);
  assert.equal(refused, `${labels}: only 1 class (a); a classifier needs at least 2 classes`);
  assert.ok(codes(oneClass, "error").includes("too-few-classes"));
});
