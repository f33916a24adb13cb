#!/usr/bin/env node
// Finds libtorch for binding.gyp: `node scripts/find-libtorch.cjs include|libs|ldflags|cflags`.
// Order: $LIBTORCH (a pytorch.org libtorch folder, CPU or CUDA), then Debian's libtorch-dev.
// Prints a clear, actionable message and exits 1 when none is found.
"use strict";
const fs = require("node:fs");
const path = require("node:path");

function fail(message) {
  process.stderr.write(`\nstemscope: ${message}\n\n`);
  process.exit(1);
}

function locate() {
  const fromEnv = process.env.LIBTORCH;
  if (fromEnv) {
    const root = path.resolve(fromEnv);
    const header = path.join(root, "include", "torch", "csrc", "api", "include", "torch", "torch.h");
    if (!fs.existsSync(header)) {
      fail(
        `LIBTORCH=${fromEnv} does not look like a libtorch folder (expected ${header}).\n` +
          "Point LIBTORCH at the unzipped 'libtorch' folder from pytorch.org (it holds include/ and lib/).",
      );
    }
    const lib = path.join(root, "lib");
    const cuda = fs.existsSync(path.join(lib, "libtorch_cuda.so"));
    let abiFlag = [];
    const cmake = path.join(root, "share", "cmake", "Torch", "TorchConfig.cmake");
    if (fs.existsSync(cmake) && /_GLIBCXX_USE_CXX11_ABI=0/.test(fs.readFileSync(cmake, "utf8"))) {
      abiFlag = ["-D_GLIBCXX_USE_CXX11_ABI=0"];
    }
    return {
      include: [path.join(root, "include"), path.join(root, "include", "torch", "csrc", "api", "include")],
      libs: [`-L${lib}`, "-ltorch", "-ltorch_cpu", "-lc10", ...(cuda ? ["-ltorch_cuda", "-lc10_cuda"] : [])],
      ldflags: [`-Wl,-rpath,${lib}`, ...(cuda ? ["-Wl,--no-as-needed", "-ltorch_cuda", "-Wl,--as-needed"] : [])],
      cflags: [...abiFlag, ...(cuda ? ["-DSTEMSCOPE_WITH_CUDA=1"] : [])],
    };
  }
  const debianHeader = "/usr/include/torch/csrc/api/include/torch/torch.h";
  if (fs.existsSync(debianHeader)) {
    return {
      include: ["/usr/include", "/usr/include/torch/csrc/api/include"],
      libs: ["-ltorch", "-ltorch_cpu", "-lc10"],
      ldflags: [],
      cflags: [],
    };
  }
  fail(
    "no libtorch found, so the native engine cannot be built.\n" +
      "  - On Debian/Ubuntu: sudo apt-get install libtorch-dev   (or run: sudo bash scripts/setup.sh)\n" +
      "  - Elsewhere: download libtorch (CPU or CUDA) from pytorch.org, unzip it, and set\n" +
      "      LIBTORCH=/path/to/libtorch npm rebuild stemscope",
  );
}

const what = process.argv[2];
const found = locate();
if (!(what in found)) fail(`find-libtorch: unknown query '${what}' (expected include, libs, ldflags or cflags)`);
process.stdout.write(found[what].join(" "));
