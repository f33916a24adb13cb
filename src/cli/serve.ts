import { existsSync } from "node:fs";
import { readFile, stat } from "node:fs/promises";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, extname, join, normalize, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { UsageError } from "../errors.js";
import { modelFolderOnnx, readOnnxModelInfo } from "../export/index.js";
import { defaultModelDir } from "../infer/index.js";
import { parseIntFlag } from "./options.js";

/** The built page: `<package root>/web/dist` (`npm run build:web`). */
export function defaultWebDir(): string {
  // src/cli/ and dist/cli/ both sit two folders below the package root.
  return join(dirname(fileURLToPath(import.meta.url)), "..", "..", "web", "dist");
}

/** Options of {@link startWebServer}. */
export interface WebServerOptions {
  /** TCP port; 0 picks a free one. Default 8080. */
  port?: number;
  /** Interface to listen on. Default "127.0.0.1" (this machine only). */
  host?: string;
  /** The built page. Default {@link defaultWebDir}. */
  webDir?: string;
  /**
   * A model folder (its model.onnx when current, else exported on start) or an exported `.onnx`
   * file. Default: models/default.
   */
  model?: string;
}

/** A running server. */
export interface WebServer {
  /** e.g. http://127.0.0.1:8080/ */
  url: string;
  /** What /model.onnx serves. */
  modelName: string;
  close(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".json": "application/json",
};

/**
 * Serves the web page and a model at /model.onnx. Every response carries the cross-origin isolation
 * headers (COOP same-origin, COEP require-corp), so onnxruntime-web can use threads.
 * @throws UsageError when the page is not built or the model cannot be read (the message says which)
 */
export async function startWebServer(options: WebServerOptions = {}): Promise<WebServer> {
  const webDir = resolve(options.webDir ?? defaultWebDir());
  if (!existsSync(join(webDir, "index.html"))) {
    throw new UsageError(`${join(webDir, "index.html")} not found: build the page first (npm run build:web)`);
  }
  const modelPath = options.model ?? defaultModelDir();
  let model: Uint8Array;
  if (modelPath.toLowerCase().endsWith(".onnx")) {
    model = await readFile(modelPath).catch((error: unknown) => {
      throw new UsageError(`${modelPath}: cannot read the model (${(error as Error).message})`, {
        cause: error,
      });
    });
    readOnnxModelInfo(model, modelPath);
  } else {
    model = (await modelFolderOnnx(modelPath)).bytes;
  }
  const server = createServer((req, res) => {
    void respond(req, res, webDir, model).catch(() => {
      if (!res.headersSent) res.writeHead(500);
      res.end();
    });
  });
  await new Promise<void>((done, fail) => {
    server.once("error", (error: NodeJS.ErrnoException) =>
      fail(
        error.code === "EADDRINUSE"
          ? new UsageError(`port ${options.port ?? 8080} is in use; pick another with --port`)
          : error,
      ),
    );
    server.listen(options.port ?? 8080, options.host ?? "127.0.0.1", done);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === "IPv6" ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}/`,
    modelName: modelPath,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  };
}

async function respond(
  req: IncomingMessage,
  res: ServerResponse,
  webDir: string,
  model: Uint8Array,
): Promise<void> {
  const headers = {
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Cache-Control": "no-cache",
  };
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { ...headers, Allow: "GET, HEAD" }).end();
    return;
  }
  let path: string;
  try {
    path = decodeURIComponent(new URL(req.url ?? "/", "http://localhost").pathname);
  } catch {
    res.writeHead(400, headers).end();
    return;
  }
  let body: Uint8Array | null = null;
  let type = "application/octet-stream";
  if (path === "/model.onnx") {
    body = model;
  } else {
    const file = normalize(join(webDir, path.endsWith("/") ? `${path}index.html` : path));
    if (file.startsWith(webDir + sep) && (await stat(file).catch(() => null))?.isFile() === true) {
      body = await readFile(file);
      type = CONTENT_TYPES[extname(file)] ?? type;
    }
  }
  if (body === null) {
    res
      .writeHead(404, { ...headers, "Content-Type": "text/plain; charset=utf-8" })
      .end(`not found: ${path}\n`);
    return;
  }
  res.writeHead(200, { ...headers, "Content-Type": type, "Content-Length": body.length });
  res.end(req.method === "HEAD" ? undefined : body);
}

interface ServeFlags {
  port: string;
  host: string;
  model?: string;
  webDir?: string;
}

/** `stemscope serve [--port 8080] [--host 127.0.0.1] [--model <dir|file.onnx>] [--web-dir <dir>]` */
export function registerServeCommand(program: Command): void {
  program
    .command("serve")
    .description(
      "Serve the web page (name and separate instruments in the browser, with onnxruntime-web) and a model at /model.onnx. The page is cross-origin isolated, so inference uses threads.",
    )
    .option("--port <n>", "TCP port", "8080")
    .option("--host <address>", "interface to listen on (0.0.0.0: every interface)", "127.0.0.1")
    .option(
      "--model <dir|file.onnx>",
      "a model folder (its model.onnx when current, else exported on start) or an exported .onnx file (default: the packaged models/default)",
    )
    .option("--web-dir <dir>", "the built page (default: the package's web/dist)")
    .action(async (flags: ServeFlags) => {
      const port = parseIntFlag("--port", flags.port, { min: 0, max: 65535 });
      const server = await startWebServer({
        port,
        host: flags.host,
        ...(flags.model === undefined ? {} : { model: flags.model }),
        ...(flags.webDir === undefined ? {} : { webDir: flags.webDir }),
      });
      process.stdout.write(`stemscope: serving ${server.url} (model: ${server.modelName}); Ctrl-C stops\n`);
      await new Promise<void>((done) => {
        const stop = (): void => {
          void server.close().then(done);
        };
        process.once("SIGINT", stop);
        process.once("SIGTERM", stop);
      });
    });
}
