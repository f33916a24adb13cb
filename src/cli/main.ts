import { Command, CommanderError } from "commander";
import { StemscopeError } from "../errors.js";
import { packageVersion } from "../version.js";
import { withFlags } from "./flags.js";
import { fileSystemMessage } from "./fs-errors.js";
import { registerCheckCommand } from "./check.js";
import { registerMixCommand } from "./mix.js";
import { registerModelCommand } from "./model.js";
import { registerTrainCommand } from "./train.js";
import { registerSynthCommand } from "./synth.js";
import { registerFeaturesCommand } from "./features.js";
import { registerPredictCommand } from "./predict.js";
import { registerSeparateCommand } from "./separate.js";
import { registerEvalCommand } from "./eval.js";
import { registerExportCommand } from "./export.js";
import { registerServeCommand } from "./serve.js";

/**
 * Builds the `stemscope` command. Each stage adds its subcommands in a `register*` function of its
 * own file under src/cli/, so this file only wires them together.
 */
export function buildProgram(): Command {
  const program = new Command("stemscope")
    .description("Separate overlapping instrument recordings into stems and name each instrument.")
    .version(packageVersion())
    .showHelpAfterError()
    .exitOverride();
  // Remember which subcommand runs, so its errors can be shown in its flags.
  program.hook("preAction", (_program, action) => {
    running.set(program, action);
  });
  registerMixCommand(program);
  registerCheckCommand(program);
  registerTrainCommand(program);
  registerModelCommand(program);
  registerSynthCommand(program);
  registerFeaturesCommand(program);
  registerPredictCommand(program);
  registerSeparateCommand(program);
  registerEvalCommand(program);
  registerExportCommand(program);
  registerServeCommand(program);
  return program;
}

const running = new WeakMap<Command, Command>();

/** Runs the CLI on `argv` (as process.argv) and resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // commander has already printed its message (or the help / version text).
      return error.exitCode;
    }
    if (error instanceof StemscopeError) {
      process.stderr.write(`stemscope: ${withFlags(error.message, running.get(program))}\n`);
      return error.exitCode;
    }
    const message = fileSystemMessage(error, running.get(program));
    if (message !== null) {
      process.stderr.write(`stemscope: ${message}\n`);
      return 1;
    }
    throw error;
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
