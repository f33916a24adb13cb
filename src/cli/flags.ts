/**
 * One set of flag names across commands, and the bridge from the library's parameter names to them.
 *
 * A setting has one name from the flag to the schema: `--batch-size` sets `batchSize` everywhere.
 * Old spellings stay as hidden aliases ({@link addAlias}), so existing scripts still run. The
 * library names parameters in backticks in its messages (`` `batchSize` ``, see src/errors.ts);
 * {@link withFlags} shows each as the flag of the command that ran (`--batch-size`).
 */
import { type Command, Option } from "commander";

/**
 * Adds a hidden alias of an option: `alias` (e.g. "--batch <n>") sets the option whose attribute is
 * `target` (e.g. "batchSize"), as if that flag had been given. Not shown in --help.
 */
export function addAlias(command: Command, alias: string, target: string): Command {
  const option = new Option(alias).hideHelp();
  command.addOption(option);
  command.on(`option:${option.name()}`, (value: unknown) => {
    command.setOptionValueWithSource(target, value, "cli");
  });
  return command;
}

/**
 * The flag of a library parameter in `command`: the visible option whose attribute is `parameter`
 * (`batchSize` → `--batch-size`), or one named in `extra` (for settings a command spells
 * differently, e.g. synth's `outDir` → `--out`).
 */
export function flagOf(
  command: Command,
  parameter: string,
  extra: Record<string, string> = {},
): string | undefined {
  const option = command.options.find((o) => o.attributeName() === parameter && !o.hidden);
  return option?.long ?? extra[parameter];
}

/** Library parameters that a command's flags spell differently (by command name). */
const EXTRA_FLAGS: Record<string, Record<string, string>> = {
  synth: { outDir: "--out" },
  separate: { encoding: "--float32" },
};

/**
 * A library message as the command line says it: each backticked parameter name the command has a
 * flag for becomes that flag (`` `batchSize` 19 `` → `--batch-size 19`); other backticked text
 * (e.g. `` `stemscope mix` ``) stays as it is.
 */
export function withFlags(message: string, command: Command | undefined): string {
  if (command === undefined) return message;
  const extra = EXTRA_FLAGS[command.name()] ?? {};
  return message.replace(
    /`([A-Za-z][A-Za-z0-9]*)`/g,
    (all, name: string) => flagOf(command, name, extra) ?? all,
  );
}

/** Prints a library warning for `command` on stderr, in its flags. */
export function warningPrinter(command: Command): (message: string) => void {
  return (message) => process.stderr.write(`stemscope: warning: ${withFlags(message, command)}\n`);
}
