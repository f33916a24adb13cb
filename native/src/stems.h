// The batched stems kernel (stems.cc): the model's separated planes → soft masks on each clip's STFT
// → stems, the maths of src/separator/masks.ts's separateClip in C++ for many clips on several
// threads. Independent of libtorch.
#pragma once

#include <napi.h>

namespace stemscope {

// Registers stemsBatch on `exports`.
void RegisterStemsKernel(Napi::Env env, Napi::Object exports);

}  // namespace stemscope
