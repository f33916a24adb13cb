// How busy other work keeps this machine's CPUs, for measurements that time our own work (the
// `bf16` auto trial): on a shared 2-core machine a light other job made that trial choose float32
// (0.65×) for a recipe that trains 1.4× faster in bf16.
import { readProcText } from "./proc.js";

/** The CPU time of the whole machine and of this process at one moment. */
export interface CpuSample {
  /** Busy CPU time of the whole machine since boot, in /proc/stat's ticks (only ratios are used). */
  machineBusy: number;
  /** All CPU time of the whole machine since boot (busy + idle + iowait), the same ticks. */
  machineTotal: number;
  /** CPUs counted in /proc/stat. */
  cpus: number;
  /** This process's CPU time (user + system, every thread), seconds. */
  ownSeconds: number;
  /** Wall clock, seconds (any origin). */
  wallSeconds: number;
}

/**
 * The machine's and this process's CPU time now, from /proc/stat's `cpu` lines (user nice system
 * idle iowait irq softirq steal …: idle and iowait are idle, the rest busy; steal counts as busy, as
 * other virtual machines take it) and `process.cpuUsage()`. Null where /proc/stat cannot be read or
 * parsed (not Linux).
 * @param procStat the text of /proc/stat (read from the system when omitted; for tests)
 * @param own this process's CPU seconds and the wall clock (read now when omitted; for tests)
 */
export function sampleCpu(
  procStat?: string,
  own?: { ownSeconds: number; wallSeconds: number },
): CpuSample | null {
  const text = procStat ?? readProcText("/proc/stat");
  if (text === null) return null;
  const lines = text.split("\n");
  const total = lines.find((line) => /^cpu\s/.test(line));
  const cpus = lines.filter((line) => /^cpu\d+\s/.test(line)).length;
  if (total === undefined || cpus === 0) return null;
  const ticks = total.trim().split(/\s+/).slice(1, 9).map(Number);
  if (ticks.length < 5 || ticks.some((t) => !Number.isFinite(t) || t < 0)) return null;
  const idle = ticks[3]! + ticks[4]!;
  const all = ticks.reduce((a, b) => a + b, 0);
  const usage = process.cpuUsage();
  const { ownSeconds, wallSeconds } = own ?? {
    ownSeconds: (usage.user + usage.system) / 1e6,
    wallSeconds: performance.now() / 1000,
  };
  return { machineBusy: all - idle, machineTotal: all, cpus, ownSeconds, wallSeconds };
}

/**
 * The share (0…1) of all the machine's CPU time between two samples that other work used: the
 * machine's busy share minus this process's (its CPU seconds over wall seconds × CPUs), at least 0.
 * Null where no CPU time or wall time passed between them.
 */
export function otherCpuShare(before: CpuSample, after: CpuSample): number | null {
  const total = after.machineTotal - before.machineTotal;
  const wall = after.wallSeconds - before.wallSeconds;
  if (total <= 0 || wall <= 0) return null;
  const machine = (after.machineBusy - before.machineBusy) / total;
  const own = (after.ownSeconds - before.ownSeconds) / (wall * after.cpus);
  return Math.min(1, Math.max(0, machine - own));
}
