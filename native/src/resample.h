// The polyphase resampling kernel (resample.cc): the time-domain sum of src/audio/resample.ts's
// polyphase path, y[m] = Σ_j table[m·M mod L][j] · x[floor(m·M/L) − reach + 1 + j], in C++ with the
// same order of operations, so both give the same samples bit for bit. Independent of libtorch.
#pragma once

#include <napi.h>

namespace stemscope {

// Registers resamplePolyphase and resampleKernelIsa on `exports`.
void RegisterResampleKernel(Napi::Env env, Napi::Object exports);

}  // namespace stemscope
