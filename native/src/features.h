// The batched feature kernel (features.cc): STFT power → sparse mel → dB → [min-max → resize], the
// maths of src/features/pipeline.ts's FeatureExtractor in C++ for many clips on several threads.
// Independent of libtorch.
#pragma once

#include <napi.h>

namespace stemscope {

// Registers featurePlan, featuresBatch and featuresBatchAsync on `exports`.
void RegisterFeatureKernel(Napi::Env env, Napi::Object exports);

}  // namespace stemscope
