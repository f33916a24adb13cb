/**
 * Vite build of the web page (web/ → web/dist/). Everything comes from npm and is bundled; the page
 * needs no network beyond the server it is loaded from.
 *
 * - The page imports stemscope's own TypeScript (src/features, src/infer, src/export/metadata). Some
 *   of those modules also hold Node-only paths (reading files, the native feature kernel) that the
 *   page never calls; their `node:*` imports (and audio-decode: the page decodes with the browser)
 *   resolve to a stub whose every export throws, so the same source serves both.
 * - onnxruntime-web's WASM runtime (`ort-wasm-simd-threaded.{mjs,wasm}`) is copied to dist/ort/ and
 *   loaded from there (env.wasm.wasmPaths), so its worker threads start from that file.
 * - The dev and preview servers send COOP/COEP headers: the page is cross-origin isolated, which
 *   lets onnxruntime-web use threads (SharedArrayBuffer).
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { defineConfig, type Plugin } from "vite";

const here = dirname(fileURLToPath(import.meta.url));
const ortDist = dirname(
  createRequire(import.meta.url).resolve("onnxruntime-web/ort-wasm-simd-threaded.wasm"),
);
/** The onnxruntime-web files the page loads at run time (the WASM runtime and its JS glue). */
export const ORT_RUNTIME_FILES = ["ort-wasm-simd-threaded.mjs", "ort-wasm-simd-threaded.wasm"];

/** The headers that make the page cross-origin isolated (stemscope serve sends the same). */
export const ISOLATION_HEADERS = {
  "Cross-Origin-Opener-Policy": "same-origin",
  "Cross-Origin-Embedder-Policy": "require-corp",
};

const NODE_STUB = "\0stemscope-node-stub";

/** Packages that only the Node-side paths of shared modules import (the browser decodes audio itself). */
const NODE_ONLY_PACKAGES = new Set(["audio-decode"]);

/** `node:*` and Node-only imports → a module whose exports throw when used (the page never calls them). */
function stubNodeBuiltins(): Plugin {
  return {
    name: "stemscope-stub-node-builtins",
    enforce: "pre",
    resolveId(id) {
      const stub = id.startsWith("node:") || NODE_ONLY_PACKAGES.has(id);
      return stub ? { id: `${NODE_STUB}:${id}`, syntheticNamedExports: true } : null;
    },
    load(id) {
      if (!id.startsWith(NODE_STUB)) return null;
      const name = JSON.stringify(id.slice(NODE_STUB.length + 1));
      return `const fail = (key) => () => { throw new Error(${name} + "." + String(key) + " is not available in the browser"); };
export default new Proxy({}, { get: (_, key) => (key === "__esModule" ? false : fail(key)) });`;
    },
  };
}

/** Copies onnxruntime-web's runtime files to <outDir>/ort/ (build) and serves them from /ort/ (dev). */
function ortRuntime(): Plugin {
  return {
    name: "stemscope-ort-runtime",
    generateBundle() {
      for (const file of ORT_RUNTIME_FILES) {
        this.emitFile({ type: "asset", fileName: `ort/${file}`, source: readFileSync(join(ortDist, file)) });
      }
    },
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const file = ORT_RUNTIME_FILES.find((f) => req.url?.split("?")[0] === `/ort/${f}`);
        if (file === undefined) return next();
        res.setHeader("Content-Type", file.endsWith(".wasm") ? "application/wasm" : "text/javascript");
        res.end(readFileSync(join(ortDist, file)));
      });
    },
  };
}

export default defineConfig({
  root: here,
  base: "./",
  plugins: [stubNodeBuiltins(), ortRuntime()],
  resolve: {
    // The build of onnxruntime-web that loads its runtime from env.wasm.wasmPaths (the default
    // build embeds the JS glue and a second reference to the 14-MB .wasm).
    alias: [{ find: /^onnxruntime-web\/wasm$/, replacement: join(ortDist, "ort.wasm.min.mjs") }],
  },
  build: {
    outDir: join(here, "dist"),
    emptyOutDir: true,
    target: "es2022",
    chunkSizeWarningLimit: 2000,
    rollupOptions: {
      // zod's sources carry /*@__PURE__*/ comments Rollup cannot place; harmless, and not ours.
      onwarn(warning, warn) {
        if (warning.code !== "INVALID_ANNOTATION") warn(warning);
      },
    },
  },
  server: { headers: ISOLATION_HEADERS, fs: { allow: [join(here, "..")] } },
  preview: { headers: ISOLATION_HEADERS },
});
