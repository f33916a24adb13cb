import type { Command } from "commander";
import {
  type CheckIssue,
  CheckOptionsSchema,
  type CheckReport,
  checkDataset,
} from "../data/dataset/check.js";
import { DataError } from "../data/errors.js";
import { createProgress, type Progress } from "../util/progress.js";
import { parseFloatFlag, parseIntFlag } from "./options.js";

interface CheckFlags {
  json?: boolean;
  quiet?: boolean;
  sampleRate?: string;
  seconds?: string;
  maxDecode?: string;
  maxShown?: string;
}

function formatIssues(issues: CheckIssue[], maxPerCode: number): string {
  const out: string[] = [];
  for (const severity of ["error", "warning"] as const) {
    const list = issues.filter((i) => i.severity === severity);
    if (list.length === 0) continue;
    out.push(`${severity === "error" ? "errors" : "warnings"} (${list.length}):`);
    const byCode = new Map<string, CheckIssue[]>();
    for (const issue of list) byCode.set(issue.code, [...(byCode.get(issue.code) ?? []), issue]);
    for (const [code, group] of byCode) {
      for (const issue of group.slice(0, maxPerCode)) out.push(`  [${code}] ${issue.message}`);
      if (group.length > maxPerCode) out.push(`  [${code}] … and ${group.length - maxPerCode} more`);
    }
  }
  return out.join("\n");
}

/** Human-readable report (what `stemscope check` prints without --json). */
export function formatCheckReport(report: CheckReport, maxPerCode = 10): string {
  const lines: string[] = [];
  const d = report.dataset;
  if (d.kind === "raw_data") {
    lines.push(`raw_data ${d.dir}: ${d.classes.length} classes, ${d.totalClips} clips`);
    const rows = [
      [
        "class",
        "clips",
        "rates (Hz:n)",
        "channels",
        "seconds min/mean/max",
        "silent",
        "clipped",
        "unreadable",
      ],
    ];
    for (const c of d.classes) {
      const fmt = (r: Record<string, number>) =>
        Object.entries(r)
          .map(([k, v]) => `${k}:${v}`)
          .join(",") || "-";
      rows.push([
        c.name,
        String(c.clips),
        fmt(c.sampleRates),
        fmt(c.channels),
        `${c.duration.min.toFixed(2)}/${c.duration.mean.toFixed(2)}/${c.duration.max.toFixed(2)}`,
        String(c.silent),
        String(c.clipped),
        String(c.unreadable),
      ]);
    }
    const widths = rows[0]!.map((_, j) => Math.max(...rows.map((r) => r[j]!.length)));
    for (const r of rows)
      lines.push(
        `  ${r
          .map((cell, j) => cell.padEnd(widths[j]!))
          .join("  ")
          .trimEnd()}`,
      );
  } else {
    lines.push(
      `train_data ${d.dir}: ${d.lines} samples of ${d.sources ?? "?"} sources, ${d.decodedFiles} files decoded`,
    );
    lines.push(
      `  labels: ${
        Object.entries(d.labelCounts)
          .map(([k, v]) => `${k} (${v})`)
          .join(", ") || "none"
      }`,
    );
    lines.push(
      d.knownClasses === null
        ? "  no mix.json: labels were not checked against class folders"
        : `  known classes (raw_data of mix.json): ${d.knownClasses.join(", ")}`,
    );
    if (d.split !== null) lines.push(`  split.json: train ${d.split.train}, test ${d.split.test}`);
  }
  const issues = formatIssues(report.issues, maxPerCode);
  if (issues !== "") lines.push(issues);
  lines.push(
    report.ok ? `ok (${report.warnings} warnings)` : `${report.errors} errors, ${report.warnings} warnings`,
  );
  return `${lines.join("\n")}\n`;
}

/** Registers `stemscope check <dir>`. */
export function registerCheckCommand(program: Command): void {
  const d = CheckOptionsSchema.parse({});
  program
    .command("check")
    .description(
      "Validate a raw_data library or a train_data folder (exit code 1 on errors, 0 with warnings only).",
    )
    .argument("<dir>", "raw_data folder (class sub-folders of .wav) or train_data folder (with labels.txt)")
    .option("--json", "print the report as one JSON object")
    .option("--sample-rate <hz>", `expected sample rate (default: ${d.sampleRate})`)
    .option("--seconds <s>", `raw_data: expected minimum clip length (default: ${d.seconds})`)
    .option("--max-decode <n>", "train_data: decode only the first n samples' files (default: all)")
    .option("--max-shown <n>", "issues shown per kind, without --json (default: 10)")
    .option("--quiet", "no progress output")
    .action((dir: string, flags: CheckFlags) => {
      let progress: Progress | undefined;
      const report = checkDataset(dir, {
        ...(flags.sampleRate !== undefined
          ? { sampleRate: parseIntFlag("--sample-rate", flags.sampleRate, { min: 1 }) }
          : {}),
        ...(flags.seconds !== undefined
          ? { seconds: parseFloatFlag("--seconds", flags.seconds, { min: 0 }) }
          : {}),
        ...(flags.maxDecode !== undefined
          ? { maxDecode: parseIntFlag("--max-decode", flags.maxDecode, { min: 0 }) }
          : {}),
        onProgress: (done, total) => {
          if (flags.quiet === true || total < 2000) return;
          progress ??= createProgress({ label: "checking", total });
          progress.update(done);
        },
      });
      progress?.stop();
      const maxShown =
        flags.maxShown === undefined ? 10 : parseIntFlag("--max-shown", flags.maxShown, { min: 1 });
      process.stdout.write(
        flags.json === true ? `${JSON.stringify(report)}\n` : formatCheckReport(report, maxShown),
      );
      if (!report.ok) {
        throw new DataError(
          `check: ${report.errors} error(s) in ${dir}${flags.json === true ? "" : " (listed above)"}`,
        );
      }
    });
}
