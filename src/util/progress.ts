import cliProgress from "cli-progress";

/** Extra fields shown after the counts, e.g. `{ loss: 0.12 }` or `{ class: "piano" }`. */
export type ProgressPayload = Record<string, string | number>;

/** Reports how far a long job has come. Every method is cheap and safe to call often. */
export interface Progress {
  /** Adds `n` (default 1) finished units. */
  tick(n?: number, payload?: ProgressPayload): void;
  /** Sets the number of finished units to `done`. */
  update(done: number, payload?: ProgressPayload): void;
  /** Ends the report: draws the final state (bar or line) once. Further calls do nothing. */
  stop(): void;
}

export interface ProgressOptions {
  /** What is being counted, e.g. "mix" or "synth piano". */
  label: string;
  /** The number of units when done (> 0; 0 is allowed and shows 0/0). */
  total: number;
  /** No output at all (still safe to call). Default false. */
  quiet?: boolean;
  /** Where to write. Default process.stderr. A TTY gets a live bar; anything else gets lines. */
  stream?: NodeJS.WritableStream;
  /** Units already done when starting (a resumed job). Default 0. */
  start?: number;
  /** Seconds between plain lines on a non-TTY stream. Default 10. */
  intervalSeconds?: number;
  /** Clock in milliseconds, for tests. Default `performance.now`. */
  now?: () => number;
}

function formatPayload(payload: ProgressPayload | undefined): string {
  if (payload === undefined) return "";
  const parts = Object.entries(payload).map(
    ([k, v]) => `${k}=${typeof v === "number" ? formatNumber(v) : v}`,
  );
  return parts.length === 0 ? "" : ` | ${parts.join(" ")}`;
}

function formatNumber(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4);
}

function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${Math.round(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.round(s - m * 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, "0")}m`;
}

/**
 * A progress reporter for the CLI and long library calls.
 *
 * - on a TTY stream: a cli-progress bar `label [=====-----] 42% | 840/2000 | 120/s | ETA 10s`;
 * - on any other stream (a log file, CI): one plain line every `intervalSeconds` and a last one on
 *   `stop()`, e.g. `mix: 840/2000 (42%) 120.0/s, ETA 10s`;
 * - with `quiet`: nothing.
 *
 * Rates count only units done since the start (not those skipped by `start`).
 */
export function createProgress(options: ProgressOptions): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const total = options.total;
  const start = options.start ?? 0;
  const t0 = now();
  let done = start;
  let stopped = false;
  let lastPayload: ProgressPayload | undefined;

  if (options.quiet === true) {
    return {
      tick: () => undefined,
      update: () => undefined,
      stop: () => undefined,
    };
  }

  const rate = (): number => {
    const seconds = (now() - t0) / 1000;
    return seconds > 0 ? (done - start) / seconds : 0;
  };

  if ((stream as NodeJS.WriteStream).isTTY === true) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${options.label} [{bar}] {percentage}% | {value}/{total} | {rate}/s | ETA {eta_formatted}{extra}`,
        hideCursor: true,
        clearOnComplete: false,
        fps: 10,
        etaBuffer: 50,
      },
      cliProgress.Presets.legacy,
    );
    bar.start(total, done, { rate: "0", extra: "" });
    const payloadFor = (payload: ProgressPayload | undefined) => ({
      rate: rate().toFixed(1),
      extra: formatPayload(payload ?? lastPayload),
    });
    return {
      tick(n = 1, payload) {
        if (stopped) return;
        done += n;
        if (payload !== undefined) lastPayload = payload;
        bar.update(done, payloadFor(payload));
      },
      update(value, payload) {
        if (stopped) return;
        done = value;
        if (payload !== undefined) lastPayload = payload;
        bar.update(done, payloadFor(payload));
      },
      stop() {
        if (stopped) return;
        stopped = true;
        bar.update(done, payloadFor(undefined));
        bar.stop();
      },
    };
  }

  const intervalMs = (options.intervalSeconds ?? 10) * 1000;
  let lastLine = t0;
  const line = (): void => {
    const r = rate();
    const percent = total > 0 ? ` (${Math.floor((100 * done) / total)}%)` : "";
    const eta = r > 0 && done < total ? `, ETA ${formatSeconds((total - done) / r)}` : "";
    stream.write(
      `${options.label}: ${done}/${total}${percent} ${r.toFixed(1)}/s${eta}${formatPayload(lastPayload)}\n`,
    );
  };
  const maybeLine = (): void => {
    const t = now();
    if (t - lastLine >= intervalMs) {
      lastLine = t;
      line();
    }
  };
  return {
    tick(n = 1, payload) {
      if (stopped) return;
      done += n;
      if (payload !== undefined) lastPayload = payload;
      maybeLine();
    },
    update(value, payload) {
      if (stopped) return;
      done = value;
      if (payload !== undefined) lastPayload = payload;
      maybeLine();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      line();
    },
  };
}
