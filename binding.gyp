{
  "targets": [
    {
      "target_name": "stemscope_native",
      "sources": ["native/src/addon.cc", "native/src/ops.cc", "native/src/allocator.cc", "native/src/features.cc", "native/src/stems.cc", "native/src/resample.cc", "native/src/distributed.cc"],
      "include_dirs": [
        "<!(node -p \"require('node-addon-api').include_dir\")",
        "<!@(node scripts/find-libtorch.cjs include)"
      ],
      "libraries": ["<!@(node scripts/find-libtorch.cjs libs)"],
      "ldflags": ["<!@(node scripts/find-libtorch.cjs ldflags)"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-frtti", "-O2", "-Wno-unused-parameter", "-Wno-psabi", "<!@(node scripts/find-libtorch.cjs cflags)"]
    }
  ]
}
