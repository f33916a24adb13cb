// The training feature cache: entries built by the native kernel (or the TypeScript workers when the
// addon is missing) hold the same features as the TypeScript path of sampleFeaturesBatch computes per
// sample, up to the uint16 quantisation; a second build finds every entry.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fixLength, loadAudio } from "../src/audio/index.js";
import { buildFeatureCache, readBatch } from "../src/data/dataset/cache.js";
import { readTrainData } from "../src/data/dataset/dataset.js";
import { buildMixtures } from "../src/data/mix/mix.js";
import { FeatureConfigSchema } from "../src/features/config.js";
import { sampleFeaturesBatch } from "../src/features/pipeline.js";
import { makeRawData, tempDir } from "./data-helpers.js";
import { maxAbsDiff } from "./feature-helpers.js";

let root = "";
before(async () => {
  root = tempDir("stemscope-cache-");
  makeRawData(join(root, "raw"), ["bass", "flute", "piano"], 3, 16000);
  await buildMixtures(
    { dataDir: join(root, "raw"), outputDir: join(root, "data"), samplesPerCombination: 4 },
    { jobs: 1 },
  );
});
after(() => rmSync(root, { recursive: true, force: true }));

for (const mode of ["native", "seed"] as const) {
  test(`${mode} features: cache entries equal the TypeScript features (≤ quantisation), then all hits`, async () => {
    const data = readTrainData(join(root, "data"));
    const config = FeatureConfigSchema.parse({ mode });
    const cacheDir = join(root, `cache-${mode}`);
    const first = await buildFeatureCache(data.samples, config, { cacheDir, jobs: 2 });
    assert.equal(first.computed, data.samples.length);
    assert.equal(first.hits, 0);
    const k = data.sources;
    const n = config.nMels * config.size;
    const batch = readBatch({ entries: first.entries, planes: 1 + k, rows: config.nMels, cols: config.size });
    for (const [i, sample] of data.samples.entries()) {
      const read = async (p: string) => fixLength((await loadAudio(p, { sampleRate: 16000 })).samples, 32000);
      const expected = sampleFeaturesBatch(
        [await read(sample.mixed)],
        [await Promise.all(sample.sources.map(read))],
        config,
        { native: false },
      );
      assert.ok(
        maxAbsDiff(batch.mixture.subarray(i * n, (i + 1) * n), expected.mixture) <= 1e-5,
        sample.mixed,
      );
      for (let j = 0; j < k; j++) {
        const got = batch.sources.subarray((i * k + j) * n, (i * k + j + 1) * n);
        assert.ok(maxAbsDiff(got, expected.sources.subarray(j * n, (j + 1) * n)) <= 1e-5, sample.sources[j]);
      }
    }
    const second = await buildFeatureCache(data.samples, config, { cacheDir, jobs: 2 });
    assert.equal(second.hits, data.samples.length);
    assert.equal(second.computed, 0);
    assert.deepEqual(second.entries, first.entries);
  });
}
